"""The client's sans-I/O cores without a network (python-websockets ``Protocol`` style: frames in, decisions
out): the session core (pending calls, replay after a reconnect) and a process's stream (admission, gaps,
reassembly, what is held)."""

from __future__ import annotations

import base64

from pytest_execserver.client import Closed, Exited, OutputChunk
from pytest_execserver.client.events import ReadResult
from pytest_execserver.client.flow import FlowControl
from pytest_execserver.client.session import Lost, Pushed, Refusal, Reply, SessionCore
from pytest_execserver.client.stream import GAP_GRACE_S, IDLE_PROBE_S, ProcessStream

OLD, NEW = object(), object()  # two links (transports)


def out(seq: int, data: bytes = b"x") -> OutputChunk:
    return OutputChunk(seq, "stdout", data)


# ---------------------------------------------------------------------------------------------- session core


def test_requests_get_increasing_ids_and_a_reply_completes_exactly_its_call() -> None:
    core = SessionCore()
    a = core.request("process/read", {"processId": "p", "afterSeq": 0}, link=OLD)
    b = core.request("environment/info", None, link=OLD, trace={"traceparent": "00-1-2-01"})
    assert (a.id, b.id) == (1, 2) and a.process_id == "p" and b.process_id is None
    assert b.frame == {"id": 2, "method": "environment/info", "params": {}, "trace": {"traceparent": "00-1-2-01"}}
    reply = core.receive({"id": 2, "result": {"ok": True}})
    assert isinstance(reply, Reply) and reply.call is b and reply.result == {"ok": True} and reply.error is None
    assert list(core.calls) == [1]
    assert core.receive({"id": 2, "result": {}}) is None  # a second response to the same id is ignored
    assert core.receive({"id": 99, "result": {}}) is None  # as is one to an id never sent


def test_an_error_reply_carries_a_typed_error() -> None:
    core = SessionCore()
    call = core.request("process/start", {"processId": "p"}, link=OLD)
    reply = core.receive({"error": {"code": -32600, "message": "process p already exists"}, "id": call.id})
    assert isinstance(reply, Reply) and reply.error is not None
    assert (reply.error.code, reply.error.message) == (-32600, "process p already exists")
    malformed = core.request("x", None, link=OLD)
    reply = core.receive({"id": malformed.id, "error": "boom"})
    assert isinstance(reply, Reply) and reply.error is not None and reply.error.code == -32603


def test_a_forgotten_call_ignores_its_late_response() -> None:
    core = SessionCore()
    call = core.request("process/read", {"processId": "p"}, link=OLD)
    assert core.forget(call.id) is call
    assert core.receive({"id": call.id, "result": {}}) is None


def test_notifications_are_parsed_and_foreign_ones_ignored() -> None:
    core = SessionCore()
    chunk = base64.b64encode(b"hi").decode()
    pushed = core.receive({"method": "process/output", "params": {"processId": "p", "seq": 3, "stream": "stderr",
                                                                  "chunk": chunk}})  # fmt: skip
    assert isinstance(pushed, Pushed) and pushed.process_id == "p" and pushed.event == OutputChunk(3, "stderr", b"hi")
    exited = core.receive({"method": "process/exited", "params": {"processId": "p", "seq": 4, "exitCode": 2}})
    assert isinstance(exited, Pushed) and exited.event == Exited(4, 2, None)  # no sandboxDenied: unknown
    assert core.receive({"method": "network/policyDecision", "params": {}}) is None
    assert core.receive({"method": "process/output", "params": {"processId": "p"}}) is None  # no seq


def test_a_server_request_is_refused_with_method_not_found() -> None:
    refusal = SessionCore().receive({"id": "srv-1", "method": "network/policyRequest", "params": {}})
    assert isinstance(refusal, Refusal)
    assert refusal.frame["id"] == "srv-1" and refusal.frame["error"]["code"] == -32601


def test_a_lost_link_fails_its_calls_but_keeps_reads_and_writes_for_replay() -> None:
    core = SessionCore()
    start = core.request("process/start", {"processId": "p"}, link=OLD)
    read = core.request("process/read", {"processId": "p", "afterSeq": 4}, link=OLD)
    write = core.request("process/write", {"processId": "p", "chunk": "eA==", "writeId": "p-w1"}, link=OLD)
    signal = core.request("process/signal", {"processId": "p", "signal": "interrupt"}, link=OLD)
    other = core.request("process/terminate", {"processId": "q"}, link=NEW)  # on another link: untouched
    lost = core.link_lost(OLD)
    assert lost == [Lost(start, True), Lost(signal, False)]  # start's outcome is unknown: never re-sent
    assert set(core.calls) == {read.id, write.id, other.id}
    replay = core.relink(NEW)
    assert replay == [read, write]
    assert write.frame["params"]["writeId"] == "p-w1"  # the same writeId: the server dedupes the write
    assert read.replayed == write.replayed == 1 and read.link is NEW
    assert core.relink(NEW) == []  # already on the new link: nothing to send twice


def test_drain_removes_every_call() -> None:
    core = SessionCore()
    calls = [core.request("process/read", {}, link=OLD), core.request("fs/readFile", {}, link=NEW)]
    assert core.drain() == calls and not core.calls


# ---------------------------------------------------------------------------------------------- process stream


def test_pushed_events_are_held_until_delivered_never_dropped() -> None:
    flow = FlowControl(high=3 * 300, low=300)
    stream = ProcessStream(flow)
    queued = 0
    for seq in (1, 2, 3, 4):
        assert stream.admit(out(seq), queued)  # no lossy limit: always admitted
        queued += 1
    assert not flow.may_read and stream.held == 4  # past high water: stop reading the socket
    assert not stream.admit(out(2), queued)  # a duplicate is not held twice
    ready = stream.consume(out(1), now=0.0) + stream.consume(out(2), now=0.0)
    assert [e.seq for e in ready] == [1, 2]
    stream.delivered()
    assert stream.held == 2 and not flow.may_read  # 2 held: still above low water
    ready = stream.consume(out(3), 0.0) + stream.consume(out(4), 0.0)
    stream.delivered()
    assert stream.held == 0 and flow.may_read and flow.held == 0


def test_a_lossy_queue_limit_drops_and_asks_for_a_lag_read_back() -> None:
    stream = ProcessStream(FlowControl(), queue_limit=2)
    assert stream.admit(out(1), 0) and stream.admit(out(2), 1)
    assert not stream.admit(out(3), 2)
    assert stream.recover_reason == "lag" and stream.held == 2
    assert stream.take_recovery() == "lag" and stream.take_recovery() is None


def test_a_gap_is_a_read_back_only_if_it_outlives_the_grace() -> None:
    stream = ProcessStream(FlowControl())
    assert stream.wait_budget(now=10.0) == IDLE_PROBE_S
    assert stream.consume(out(2), now=10.0) == []  # seq 1 missing
    assert stream.gap_deadline == 10.0 + GAP_GRACE_S
    assert abs(stream.wait_budget(now=10.02) - (GAP_GRACE_S - 0.02)) < 1e-9
    assert [e.seq for e in stream.consume(out(1), now=10.03)] == [1, 2]  # closed in time: no read-back
    assert stream.gap_deadline is None and stream.recover_reason is None
    stream.consume(out(4), now=11.0)
    assert stream.on_silence() == "gap" and stream.take_recovery() == "gap"
    assert stream.gap_deadline is None
    assert stream.on_silence() == "idle"


def test_a_read_back_fills_the_gap_and_releases_in_order() -> None:
    stream = ProcessStream(FlowControl())
    stream.admit(out(3), 0)
    stream.consume(out(3), now=0.0)
    need_more, ready, filled = stream.apply_read(
        ReadResult([out(1), out(2), out(3)], 6, True, 0, True, None, False)
    )
    assert not need_more and filled == 0
    assert [type(e) for e in ready] == [OutputChunk, OutputChunk, OutputChunk, Exited, Closed]
    stream.delivered()
    assert stream.held == 0


def test_a_legacy_reader_keeps_pushed_events_only_ahead_of_what_it_delivered() -> None:
    stream = ProcessStream(FlowControl())
    for seq in (1, 2, 3):
        stream.keep(out(seq, b"pushed"))
    _, ready, filled = stream.apply_read(ReadResult([out(2, b"read"), out(3, b"read")], 4, False, None, False,
                                                    None, None))  # fmt: skip
    assert filled == 1 and [e.data for e in ready if isinstance(e, OutputChunk)] == [b"pushed", b"read", b"read"]
    stream.delivered()
    assert stream.spill == {} and stream.held == 0
    stream.keep(out(2))  # late duplicate of a delivered seq: not kept
    assert stream.spill == {}
