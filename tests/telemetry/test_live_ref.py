"""Against the real reference server: sub-phase coverage can fail, and client and server spans join.

The reference server is started by the harness's launcher, which points it (standard OTEL_* variables) at
the process-wide OTLP receiver; the client's spans come from the plugin's in-memory exporter.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pytest_execserver.client import connect
from pytest_execserver.servers.confine import choose_confinement
from pytest_execserver.servers.launch import ServerProcess, start_server
from pytest_execserver.telemetry import otel, phases
from pytest_execserver.telemetry.analysis import wholes
from pytest_execserver.telemetry.collect import analyse_test, server_spans_for
from pytest_execserver.telemetry.spans import from_readables
from pytest_execserver.telemetry.summary import TelemetrySummary

pytestmark = pytest.mark.timeout(120)

StartServer = Callable[..., ServerProcess]
GAP_S = 0.03


async def run_some(server: ServerProcess, mode: str = "event-stream", n: int = 3) -> list[Any]:
    """Connect, run ``n`` short processes, close; the finished client spans (drained)."""
    otel.install()
    otel.drain()
    client = await connect(server.url, mode=mode)
    try:
        for i in range(n):
            result = await client.run(["/bin/echo", f"t{i}"], cwd=server.scratch, timeout=10)
            assert result.stdout == f"t{i}\n".encode()
    finally:
        await client.close()
    return otel.drain()


async def test_coverage_drops_below_100_when_time_is_spent_between_sub_phases(
    launch_server: StartServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = launch_server("ref")
    clean = {w.kind: w for w in wholes(from_readables(await run_some(server)))}
    assert clean["rpc"].unexplained_ns < GAP_S * 1e9 / 3 and clean["connect"].unexplained_ns < GAP_S * 1e9 / 3

    monkeypatch.setitem(phases.INJECTED_GAPS, "rpc.after_queue", GAP_S)
    monkeypatch.setitem(phases.INJECTED_GAPS, "connect.after_handshake", GAP_S)
    result = analyse_test(await run_some(server))
    for kind in ("rpc", "connect"):
        entry = result[kind]
        assert entry["covered_ms"] < entry["measured_ms"], kind
        for sample in entry["samples"]:
            if kind == "rpc" and sample["method"] == "initialize":
                continue  # sent on the fresh transport, not queued: no after_queue point
            assert sample["wall"] - sample["covered"] >= GAP_S * 1e3 * 0.9, (kind, sample)
    summary = TelemetrySummary()
    summary.add(result)
    rpc = summary.phases()["rpc"]
    assert rpc["coverage"] < 0.9  # each RPC here takes ~1 ms; the 30 ms gap dominates
    assert "unexplained" in "\n".join(summary.lines())


async def test_every_answered_rpc_joins_its_server_span_and_the_split_adds_up(launch_server: StartServer) -> None:
    server = launch_server("ref")
    spans = await run_some(server, mode="legacy-read", n=5)
    client = from_readables(spans)
    server_spans = server_spans_for(client)
    rpcs = [w for w in wholes(client, server_spans) if w.kind == "rpc"]
    assert {w.method for w in rpcs} >= {"initialize", "process/start", "process/read"}
    for whole in rpcs:
        assert whole.server_ns is not None, whole.method
        assert 0 < whole.server_ns <= whole.sub_ns["wait"]
        assert whole.local_ns + whole.server_ns + (whole.network_ns or 0) == whole.covered_ns
    assert {s.service for s in server_spans} == {"execserver-ref"}
    summary = TelemetrySummary()
    summary.add(analyse_test(spans))  # the spans were taken out of the receiver above: no server split now
    assert all(r["joined"] == 0 for r in summary.rpc_methods().values())


async def test_a_server_that_does_not_export_leaves_the_split_unknown(tmp_path: Path) -> None:
    server = start_server("ref", tmp_path / "quiet", confinement=choose_confinement(),
                          env={"OTEL_TRACES_EXPORTER": "none"})
    try:
        result = analyse_test(await run_some(server, n=1))
    finally:
        server.stop()
    assert result["rpc"]["samples"] and all(s["server"] is None for s in result["rpc"]["samples"])
    summary = TelemetrySummary()
    summary.add(result)
    assert summary.rpc_methods()["process/start"]["server_share"] is None
