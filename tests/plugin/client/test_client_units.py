"""Pure logic without I/O: seq reassembly and dedupe, read-back merging, backoff, trace context."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_execserver.client import (
    Backoff,
    Closed,
    ExecServerError,
    Exited,
    OutputChunk,
    Reassembler,
    RecoveryError,
    TransportError,
)
from pytest_execserver.client.client import ExecClient
from pytest_execserver.client.events import ReadResult, parse_notification, parse_read
from pytest_execserver.client.recovery import is_retryable
from pytest_execserver.telemetry.tracing import parse_traceparent, trace_field


def out(seq: int, data: bytes = b"x") -> OutputChunk:
    return OutputChunk(seq, "stdout", data)


def read(chunks: list[OutputChunk], next_seq: int, *, exited: bool = False, closed: bool = False,
         code: int | None = None) -> ReadResult:  # fmt: skip
    return ReadResult(chunks, next_seq, exited, code, closed, None, False if exited else None)


def test_in_order_release_and_dedupe() -> None:
    r = Reassembler()
    assert r.offer(out(2))
    assert r.pop_ready() == [] and r.has_gap()
    assert r.offer(out(1))
    assert [e.seq for e in r.pop_ready()] == [1, 2]
    assert not r.offer(out(1)) and not r.offer(out(2))  # duplicates
    assert r.offer(Exited(3, 0, False)) and r.offer(Closed(4))
    assert [type(e).__name__ for e in r.pop_ready()] == ["Exited", "Closed"]
    assert r.closed_released and not r.offer(out(5))


@given(st.permutations(list(range(1, 30))), st.lists(st.integers(1, 29), max_size=20))
def test_any_order_with_duplicates_releases_each_seq_once(order: list[int], dupes: list[int]) -> None:
    r = Reassembler()
    released: list[int] = []
    for seq in order + dupes:
        r.offer(out(seq, bytes([seq])))
        released += [e.seq for e in r.pop_ready()]
    assert released == list(range(1, 30))


def test_read_back_fills_gap_and_places_exit_and_close() -> None:
    r = Reassembler()
    r.offer(out(1))
    r.pop_ready()
    r.offer(out(5))  # live notification after lost ones
    need_more = r.apply_read(read([out(2), out(3), out(5)], 7, exited=True, closed=True, code=3))
    assert not need_more
    events = r.pop_ready()
    assert [(type(e).__name__, e.seq) for e in events] == [
        ("OutputChunk", 2), ("OutputChunk", 3), ("Exited", 4), ("OutputChunk", 5), ("Closed", 6),
    ]  # fmt: skip
    assert isinstance(events[2], Exited) and events[2].exit_code == 3


def test_read_back_of_evicted_range_raises() -> None:
    r = Reassembler()
    with pytest.raises(RecoveryError, match="no longer retained"):
        r.apply_read(read([out(5), out(6)], 7))


def test_partial_read_asks_for_more() -> None:
    r = Reassembler()
    # closed, but the response stopped at an output chunk (maxBytes): the closed seq is not known yet
    assert r.apply_read(read([out(1), out(2)], 3, exited=True, closed=True, code=0))
    assert [e.seq for e in r.pop_ready()] == [1, 2]
    assert not r.apply_read(read([], 5, exited=True, closed=True, code=0))
    assert [type(e).__name__ for e in r.pop_ready()] == ["Exited", "Closed"]


def test_running_process_read_is_complete() -> None:
    r = Reassembler()
    assert not r.apply_read(read([out(1)], 2))
    assert not r.apply_read(read([], 2))  # long-poll timeout: nothing new
    assert [e.seq for e in r.pop_ready()] == [1]


def test_read_failure_and_bad_seq_raise() -> None:
    with pytest.raises(RecoveryError):
        Reassembler().apply_read(ReadResult([], 1, False, None, False, "boom", None))
    with pytest.raises(RecoveryError):
        Reassembler().apply_read(read([out(4)], 2))


def test_parse_wire_shapes() -> None:
    assert parse_notification("process/output", {"processId": "p", "seq": 1, "stream": "pty", "chunk": "aGk="}) == (
        OutputChunk(1, "pty", b"hi")
    )
    assert parse_notification("process/exited", {"processId": "p", "seq": 2, "exitCode": 1}) == Exited(2, 1, None)
    assert parse_notification("process/closed", {"processId": "p", "seq": 3}) == Closed(3)
    parsed = parse_read({"chunks": [{"seq": 1, "stream": "stdout", "chunk": "eA=="}], "nextSeq": 2,
                         "exited": False, "exitCode": None, "closed": False, "failure": None})  # fmt: skip
    assert parsed.chunks == [OutputChunk(1, "stdout", b"x")] and parsed.sandbox_denied is None


def test_backoff_grows_is_capped_and_respects_deadline() -> None:
    b = Backoff(initial_s=0.01, max_s=0.1, jitter=0.0, rng=random.Random(1))
    delays = [b.next_delay() for _ in range(8)]
    assert delays[:4] == pytest.approx([0.01, 0.02, 0.04, 0.08])
    assert max(delays) == pytest.approx(0.1)
    assert b.next_delay(remaining_s=0.003) == pytest.approx(0.003)
    assert b.next_delay(remaining_s=-1) == 0.0
    jittered = Backoff(initial_s=0.1, max_s=1, jitter=0.5, rng=random.Random(2))
    assert 0.05 <= jittered.next_delay() <= 0.15


def test_retry_classification() -> None:
    assert is_retryable(ExecServerError(-32010, "session attached"))
    assert not is_retryable(ExecServerError(-32600, "unknown session id"))
    assert is_retryable(TransportError("refused")) and is_retryable(ConnectionRefusedError())


def test_trace_field_is_w3c_even_without_a_span() -> None:
    field = trace_field()
    assert parse_traceparent(field["traceparent"]) is not None
    assert parse_traceparent("00-" + "0" * 32 + "-" + "1" * 16 + "-01") is None
    assert parse_traceparent("garbage") is None


def test_cwd_guard_and_mode_validation() -> None:
    client = ExecClient("ws://127.0.0.1:1")
    assert client.resolve_cwd("/tmp/x/scratch").startswith("file:///tmp/x/scratch")
    for bad in ("/", "/tmp/x/../etc", "file:///", "relative/dir"):
        with pytest.raises(ValueError):
            client.resolve_cwd(bad)
    with pytest.raises(ValueError):
        ExecClient("ws://127.0.0.1:1", mode="poll")
