"""Flow control and the legacy reader's fill from pushed events: pure logic, no I/O."""

from __future__ import annotations

import pytest

from pytest_execserver.client import Exited, OutputChunk, Reassembler, RecoveryError
from pytest_execserver.client.events import ReadResult
from pytest_execserver.client.flow import FlowControl, event_cost


def out(seq: int, data: bytes = b"x") -> OutputChunk:
    return OutputChunk(seq, "stdout", data)


def test_reading_stops_at_high_water_and_resumes_at_low_water() -> None:
    flow = FlowControl(high=100, low=40)
    flow.hold(99)
    assert flow.may_read
    flow.hold(1)
    assert not flow.may_read and flow.pauses == 1
    flow.release(50)  # 50 held: above low water, still paused (hysteresis)
    assert not flow.may_read
    flow.release(10)
    assert flow.may_read
    assert flow.peak == 100


def test_an_awaited_read_keeps_the_socket_read_while_paused() -> None:
    """The response of the client's own process/read sits behind the held notifications: no deadlock."""
    flow = FlowControl(high=10, low=0)
    flow.hold(event_cost(100))
    assert not flow.may_read
    flow.read_started()
    assert flow.may_read
    flow.read_finished()
    assert not flow.may_read


def test_legacy_read_fills_evicted_seqs_from_pushed_events_only() -> None:
    r = Reassembler()
    pushed = {1: out(1, b"pushed-1"), 2: out(2, b"pushed-2"), 3: out(3, b"pushed-3")}
    # the server's retention evicted seqs 1..2; the read still has 3 and 4 (its own copy of 3 wins)
    r.apply_read(ReadResult([out(3, b"read-3"), out(4, b"read-4")], 5, False, None, False, None, None), pushed)
    assert [e.data for e in r.pop_ready() if isinstance(e, OutputChunk)] == [b"pushed-1", b"pushed-2", b"read-3",
                                                                              b"read-4"]
    assert r.filled == 2


def test_legacy_read_without_the_pushed_event_still_raises() -> None:
    r = Reassembler()
    with pytest.raises(RecoveryError, match=r"events 1\.\.1 are no longer retained"):
        r.apply_read(ReadResult([out(2)], 3, False, None, False, None, None), {5: out(5)})


def test_a_pushed_exited_fills_its_seq() -> None:
    r = Reassembler()
    pushed = {2: Exited(2, 0, False)}
    r.apply_read(ReadResult([out(1), out(3)], 5, True, 0, True, None, False), pushed)
    assert [e.seq for e in r.pop_ready()] == [1, 2, 3, 4]
