"""The reference server's protocol cores, with no network, no processes and no sleeps:
:class:`EventSequencer` (per-process seq, exited before closed, injected bugs, ``process/read``) and
:class:`ConnectionRules` (what each frame means; initialize / initialized / attach rules)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from execserver_ref.bugs import NO_BUGS, Bugs
from execserver_ref.connection_rules import ConnectionRules, Verdict
from execserver_ref.envelope import ClientReply, Notification, Request, RpcError
from execserver_ref.sequencer import EventSequencer, Step

# ---------------------------------------------------------------------------------------------- sequencer


def _events(*steps: Step) -> list[tuple[str, int, str]]:
    """(method, seq, data-or-extra) for every frame of the steps, in order."""
    out = []
    for step in steps:
        for frame in step.frames:
            value = json.loads(frame)
            params = value["params"]
            detail = base64.b64decode(params["chunk"]).decode() if "chunk" in params else ""
            if "exitCode" in params:
                detail = f"exit {params['exitCode']} denied {params.get('sandboxDenied', 'absent')}"
            out.append((value["method"].removeprefix("process/"), params["seq"], detail))
    return out


def _run(bugs: Bugs = NO_BUGS, chunks: str = "ABCD", **kw: Any) -> tuple[EventSequencer, list[tuple[str, int, str]]]:
    seq = EventSequencer("p", retained_bytes=1 << 20, bugs=bugs, **kw)
    steps = [seq.output("stdout", c.encode()) for c in chunks]
    steps.append(seq.exit(0))
    assert seq.may_close(streams_open=False) is (not bugs.stall_exit)
    if seq.may_close(streams_open=False):
        steps.append(seq.close())
    return seq, _events(*steps)


def test_one_seq_counter_exited_then_closed() -> None:
    seq, events = _run(chunks="AB")
    assert events == [("output", 1, "A"), ("output", 2, "B"), ("exited", 3, "exit 0 denied False"), ("closed", 4, "")]
    assert seq.may_close(streams_open=False) is False  # closed once


def test_closed_waits_for_exit_and_for_every_stream() -> None:
    seq = EventSequencer("p", retained_bytes=100)
    seq.output("stdout", b"x")
    assert not seq.may_close(streams_open=False)  # not exited yet
    seq.exit(3)
    assert not seq.may_close(streams_open=True)  # a stream is still open (a grandchild holds it)
    late = seq.output("stderr", b"late")
    assert _events(late) == [("output", 3, "late")]
    assert _events(seq.close()) == [("closed", 4, "")]


def test_drop_chunk_loses_the_second_chunk_for_good() -> None:
    seq, events = _run(Bugs(drop_chunk=True))
    assert [e[:2] for e in events] == [("output", 1), ("output", 3), ("output", 4), ("exited", 5), ("closed", 6)]
    assert [c["seq"] for c in seq.read(0, None)[0]["chunks"]] == [1, 3, 4]


def test_duplicate_chunk_sends_the_first_twice_and_retains_it_once() -> None:
    seq, events = _run(Bugs(duplicate_chunk=True), chunks="AB")
    assert [e[:2] for e in events][:3] == [("output", 1), ("output", 1), ("output", 2)]
    assert [c["seq"] for c in seq.read(0, None)[0]["chunks"]] == [1, 2]


def test_reorder_swaps_the_first_two_and_flushes_a_lone_chunk_before_exited() -> None:
    _, events = _run(Bugs(reorder=True), chunks="AB")
    assert [e[:2] for e in events] == [("output", 2), ("output", 1), ("exited", 3), ("closed", 4)]
    _, lone = _run(Bugs(reorder=True), chunks="A")
    assert [e[:2] for e in lone] == [("output", 1), ("exited", 2), ("closed", 3)]


def test_lose_closed_consumes_the_seq_but_sends_nothing() -> None:
    seq, events = _run(Bugs(lose_closed=True), chunks="A")
    assert [e[0] for e in events] == ["output", "exited"]
    result, ready = seq.read(0, None)
    assert (result["closed"], result["nextSeq"], ready) == (True, 4, True)


def test_stall_exit_never_reports_the_exit() -> None:
    seq, events = _run(Bugs(stall_exit=True), chunks="A")
    assert [e[0] for e in events] == ["output"]
    result, ready = seq.read(1, None)
    assert (result["exited"], result["exitCode"], result["closed"], ready) == (False, None, False, False)


def test_an_outside_loss_consumes_a_seq() -> None:
    seq = EventSequencer("p", retained_bytes=100)
    lost = seq.output("stdout", b"A", lose=True)  # lose-first-chunk-after-resume decides outside
    kept = seq.output("stdout", b"B")
    assert (lost.seq, lost.frames) == (1, ())
    assert _events(kept) == [("output", 2, "B")]


def test_sandbox_denial_on_exited_and_read_or_omitted_for_an_older_server() -> None:
    seq = EventSequencer("p", retained_bytes=100)
    assert _events(seq.exit(2, sandbox_denied=True)) == [("exited", 1, "exit 2 denied True")]
    assert seq.read(0, None)[0]["sandboxDenied"] is True
    old = EventSequencer("p", retained_bytes=100, omit_sandbox_denied=True)
    assert _events(old.exit(2, sandbox_denied=True)) == [("exited", 1, "exit 2 denied absent")]
    assert old.read(0, None)[0]["sandboxDenied"] is True  # what a client learns with one process/read


def test_read_next_seq_rules_with_and_without_max_bytes() -> None:
    seq = EventSequencer("p", retained_bytes=100)
    for c in ("aaaa", "bbbb", "cccc"):
        seq.output("stdout", c.encode())
    seq.exit(0)
    seq.close()
    assert seq.read(0, None)[0]["nextSeq"] == 6  # the next unused seq, counting exited and closed
    assert seq.read(0, 1000)[0]["nextSeq"] == 4  # last returned chunk + 1
    assert [c["seq"] for c in seq.read(0, 0)[0]["chunks"]] == [1]  # the first chunk always whole


def test_read_long_poll_readiness() -> None:
    seq = EventSequencer("p", retained_bytes=100)
    assert seq.read(0, None)[1] is False  # nothing yet: wait
    seq.output("stdout", b"x")
    assert seq.read(0, None)[1] is True
    assert seq.read(1, None)[1] is False
    seq.exit(0)
    assert seq.read(1, None)[1] is True  # an exit event after afterSeq


# ---------------------------------------------------------------------------------------------- connection


def _rules() -> ConnectionRules:
    return ConnectionRules("exec-server websocket 127.0.0.1:1")


def test_unparsable_frame_is_answered_with_id_minus_one() -> None:
    inbound = _rules().receive("{nope")
    assert inbound.verdict is Verdict.REPLY and inbound.message is None
    assert inbound.reply is not None
    reply = json.loads(inbound.reply)
    assert reply["id"] == -1 and reply["error"]["code"] == -32600
    assert reply["error"]["message"].startswith("failed to parse websocket JSON-RPC message from exec-server websocket")


def test_requests_are_dispatched_and_client_replies_drop() -> None:
    rules = _rules()
    inbound = rules.receive('{"id": 1, "method": "process/read", "params": {}}')
    assert inbound.verdict is Verdict.DISPATCH and isinstance(inbound.message, Request)
    dropped = rules.receive('{"id": 1, "result": {}}')
    assert dropped.verdict is Verdict.DROP and isinstance(dropped.message, ClientReply)


def test_initialized_before_initialize_and_unknown_notifications_drop() -> None:
    rules = _rules()
    early = rules.receive('{"method": "initialized"}')
    assert early.verdict is Verdict.DROP and early.reason == "`initialized` before `initialize`"
    other = rules.receive('{"method": "foo/bar"}')
    assert other.verdict is Verdict.DROP and isinstance(other.message, Notification)


def test_init_sequence_gates_every_family() -> None:
    rules = _rules()
    with pytest.raises(RpcError, match="client must call initialize before using exec methods"):
        rules.check_ready("exec", has_session=False, attached=False)
    rules.begin_initialize()
    with pytest.raises(RpcError, match="client must send initialized before using filesystem methods"):
        rules.check_ready("filesystem", has_session=True, attached=True)
    assert rules.receive('{"method": "initialized"}').verdict is Verdict.ACCEPT
    rules.check_ready("exec", has_session=True, attached=True)
    with pytest.raises(RpcError, match="session has been resumed by another connection"):
        rules.check_ready("exec", has_session=True, attached=False)


def test_initialize_once_unless_it_failed() -> None:
    rules = _rules()
    rules.begin_initialize()
    rules.initialize_failed()  # e.g. unknown resumeSessionId: the client may retry
    rules.begin_initialize()
    with pytest.raises(RpcError, match="initialize may only be sent once per connection") as info:
        rules.begin_initialize()
    assert info.value.code == -32600
