"""Spans, W3C trace context on every request, and the history the plugin's checks read."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_execserver.checks.history import History, durations_ms
from pytest_execserver.client.transport import Transport
from pytest_execserver.telemetry import otel
from pytest_execserver.telemetry.tracing import parse_traceparent
from tests.plugin.client.client_testkit import MakeClient


@pytest.fixture
def sent_frames(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    frames: list[dict[str, Any]] = []
    original = Transport.send

    async def spy(self: Transport, frame: dict[str, Any]) -> None:
        frames.append(frame)
        await original(self, frame)

    monkeypatch.setattr(Transport, "send", spy)
    return frames


async def test_requests_carry_traceparent_of_their_rpc_span(
    make_client: MakeClient, sent_frames: list[dict[str, Any]]
) -> None:
    otel.install()
    otel.drain()
    client = await make_client()
    await client.run(["/bin/echo", "traced"], timeout=5)
    await client.close()
    spans = otel.drain()
    rpc_spans = {s.context.span_id: s for s in spans if s.name.startswith("execserver.rpc ")}
    requests = [f for f in sent_frames if "id" in f and "method" in f]
    assert {f["method"] for f in requests} >= {"initialize", "process/start"}
    for frame in requests:
        parsed = parse_traceparent(frame["trace"]["traceparent"])
        assert parsed is not None, frame
        trace_id, span_id, _flags = parsed
        span = rpc_spans[int(span_id, 16)]
        assert span.name == f"execserver.rpc {frame['method']}"
        assert f"{span.context.trace_id:032x}" == trace_id
    notifications = [f for f in sent_frames if "id" not in f]
    assert notifications == [{"method": "initialized", "params": {}}]
    names = {s.name for s in spans}
    assert {
        "execserver.connect",
        "execserver.ws_handshake",
        "execserver.initialize",
        "execserver.process",
        "execserver.first_output",
        "execserver.rpc initialize",
        "execserver.rpc process/start",
    } <= names
    init = next(s for s in spans if s.name == "execserver.initialize")
    rpc_init = next(s for s in spans if s.name == "execserver.rpc initialize")
    assert rpc_init.parent is not None and rpc_init.parent.span_id == init.context.span_id
    coverage = otel.coverage(client.history.events, spans)
    assert coverage["rpc"]["covered_ms"] >= 0.95 * coverage["rpc"]["measured_ms"]


async def test_history_records_the_contract(make_client: MakeClient, history: History) -> None:
    client = await make_client(client_id="alice")
    result = await client.run(["/bin/sh", "-c", "printf ab; sleep 0.05; printf cd >&2"], timeout=5)
    pid = result.process_id
    ops = [(e.kind, e.op) for e in history.events]
    for phase in ("connect", "ws_handshake", "initialize"):
        assert ops.index(("invoke", phase)) < ops.index(("ok", phase))
    assert all(e.client == "alice" for e in history.events)
    assert [e.data["id"] for e in history.select("rpc:initialize")] == [1, 1]
    starts = history.select("rpc:process/start")
    assert [e.kind for e in starts] == ["invoke", "ok"] and starts[0].process_id == pid
    wire_out = history.select("wire:process/output")
    # codex may report the exit before the last output chunk, so only the seq set is fixed
    assert sorted((e.data["stream"], e.data["size"]) for e in wire_out) == [("stderr", 2), ("stdout", 2)]
    exited = history.select("wire:process/exited")
    assert exited[0].data["code"] == 0
    assert sorted([e.seq for e in wire_out] + [exited[0].seq]) == [1, 2, 3]
    assert history.select("wire:process/closed")[0].seq == 4
    delivered = history.select("deliver:*")
    assert [e.seq for e in delivered] == [1, 2, 3, 4]
    assert delivered[-1].op == "deliver:closed"
    outputs = history.select("deliver:output")
    assert [e.data["chunk"] for e in outputs] == [b"ab", b"cd"]
    assert outputs[0].to_json()["data"]["chunk"] == b"ab".hex()
    assert history.select("deliver:exited")[0].data == {"code": 0, "sandbox_denied": False}
    assert len(durations_ms(history.events, "process")) == 1
    assert len(durations_ms(history.events, "first_output")) == 1
    # invoke(process) happens before the start request is answered; ok after closed is delivered
    process = history.select("process")
    assert process[0].index < starts[1].index and process[1].index > delivered[-1].index
    assert not history.select("recover") and not history.select("reconnect")


async def test_rpc_errors_are_failed_ops_with_code(make_client: MakeClient, history: History) -> None:
    from pytest_execserver.client import ExecServerError

    client = await make_client()
    with pytest.raises(ExecServerError):
        await client.call("bogus", {})
    fail = history.select("rpc:bogus", "fail")
    assert fail[0].data["code"] == -32601


async def test_no_output_process_closes_first_output_as_info(make_client: MakeClient, history: History) -> None:
    client = await make_client()
    await client.run(["/bin/true"], timeout=5)
    assert [e.kind for e in history.select("first_output")] == ["invoke", "info"]
