"""Cold connection of the Codex CLI client (codex 0.171.0), direct vs through our registry + rendezvous relay.

Not run by default (it needs the benchmark plugin enabled)::

    .venv/bin/python -m pytest -p execserver tests/benchmarks/test_relay_cold.py --benchmark-only -s

Run at 0 ms and at 20 ms per hop: with 20, every hop goes through its own Toxiproxy proxy with a 20 ms
latency toxic on each direction (client <-> relay, executor <-> relay; client <-> executor for direct). The
relay hands each caller rendezvous URLs on the address it reached the registry at, so both the registry
calls and the websocket of a hop go through that hop's proxy.

Each sample is cold on both ends: a fresh executor (``codex exec-server --remote`` registering with the
relay, or ``codex exec-server --listen`` for direct) and a fresh ``codex exec`` whose scripted model asks
for ``echo hi`` once. ``EXECSERVER_RELAY_COLD_SAMPLES`` sets the number of samples (default 30).

Phases come from the relay's journal (``time.monotonic()``, the same clock as this process on Linux) and
the scripted model's request times; codex 0.171.0 exports no spans for them. All phases are measured per
sample and reported as p50 / p95 (nearest rank):

- registration: executor spawned -> ``/register`` answered (includes the executor's own start-up)
- executor websocket: ``/register`` answered -> executor's rendezvous websocket open
- client start: ``codex exec`` spawned -> ``/connect`` requested (codex's own start-up)
- connect: ``/connect`` requested -> answered
- rendezvous websocket: ``/connect`` answered -> client websocket open
- Noise handshake: client ``resume`` -> executor's ``handshake`` forwarded (includes ``/validate``)
- initialize: executor's handshake -> first data frame to the client (the ``initialize`` answer)
- ready before model: first data frame to the client -> codex's first model request (codex connects
  at start-up, before it asks the model anything; a negative value would mean it connected lazily)
- first process output: model's ``exec_command`` answer -> codex's next request carrying the output
- cold total: ``codex exec`` spawned -> output delivered to the model

For direct, only the last two exist (no relay to watch).
"""

from __future__ import annotations

import asyncio
import math
import os
import time
from pathlib import Path
from typing import Any

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from pytest_execserver.faults.toxi import ToxiproxyControl, start_toxiproxy
from pytest_execserver.servers.codex import CodexUnavailable, codex_binary
from pytest_execserver.servers.confine import choose_confinement
from pytest_execserver.servers.launch import start_server
from pytest_execserver.servers.relay_topology import RelayProcess, start_codex_remote, start_relay
from pytest_execserver.subjects.base import RunRequest
from pytest_execserver.subjects.codex import CodexSubject
from pytest_execserver.subjects.relay import RelayCodexSubject

SAMPLES = int(os.environ.get("EXECSERVER_RELAY_COLD_SAMPLES", "30"))
PHASES = ["registration", "executor websocket", "client start", "connect", "rendezvous websocket",
          "Noise handshake", "initialize", "ready before model", "first process output", "cold total"]
ECHO = ["/bin/sh", "-c", "echo hi"]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def first(events: list[dict[str, Any]], pred: Any, after: float = 0.0) -> float:
    for e in events:
        if e["t"] >= after and pred(e):
            return float(e["t"])
    raise AssertionError("relay journal lacks an expected event")


def relay_phases(events: list[dict[str, Any]], executor_spawned: float, client_spawned: float,
                 first_model_request: float, tool_s: float, total_s: float) -> dict[str, float]:
    register = first(events, lambda e: e["event"] == "register" and e["status"] == 200, executor_spawned)
    env_open = first(events, lambda e: e["event"] == "ws_open" and e["role"] == "environment", register)
    connect_req = first(events, lambda e: e["event"] == "connect_request", client_spawned)
    connect = first(events, lambda e: e["event"] == "connect", connect_req)
    harness_open = first(events, lambda e: e["event"] == "ws_open" and e["role"] == "harness", connect)
    resume = first(events, lambda e: e["event"] == "frame" and e["kind"] == "resume", harness_open)
    handshake = first(events, lambda e: e["event"] == "frame" and e["kind"] == "handshake"
                      and e["direction"] == "to_harness", resume)
    initialized = first(events, lambda e: e["event"] == "frame" and e["kind"] == "data"
                        and e["direction"] == "to_harness", handshake)
    return {"registration": register - executor_spawned, "executor websocket": env_open - register,
            "client start": connect_req - client_spawned, "connect": connect - connect_req,
            "rendezvous websocket": harness_open - connect, "Noise handshake": handshake - resume,
            "initialize": initialized - handshake, "ready before model": first_model_request - initialized,
            "first process output": tool_s, "cold total": total_s}


class Hops:
    """Where each side reaches the other: directly, or through a Toxiproxy proxy per hop with a latency."""

    def __init__(self, control: ToxiproxyControl | None, hop_ms: int) -> None:
        self.control, self.hop_ms, self.count = control, hop_ms, 0

    def through(self, http_url: str) -> str:
        """``http://127.0.0.1:P`` -> the same service behind a fresh proxy with the hop's latency."""
        if self.control is None or self.hop_ms == 0:
            return http_url
        self.count += 1
        name = f"hop{self.count}"
        upstream = http_url.split("://", 1)[1]
        listen = self.control.create_proxy(name, upstream)["listen"]
        for stream in ("downstream", "upstream"):
            self.control.add_toxic(name, "latency", {"latency": self.hop_ms}, stream=stream)
        return f"{http_url.split('://', 1)[0]}://{listen}"


async def one_relay_sample(relay: RelayProcess, hops: Hops, root: Path, i: int) -> dict[str, float]:
    confinement = choose_confinement()
    scratch = root / f"relay-exec-{i}"
    spawned = time.monotonic()
    executor = start_codex_remote(hops.through(relay.url), scratch, confinement, environment_id=f"env-{i}")
    client = RelayCodexSubject(hops.through(relay.url), root / f"relay-client-{i}", environment_id=f"env-{i}",
                               confinement=confinement)
    try:
        relay.wait_for(lambda ev: any(e["event"] == "ws_open" and e.get("environment_id") == f"env-{i}"
                                      and e["role"] == "environment" for e in ev), what="executor websocket")
        await client.start()
        outcome = await client.run(RunRequest(argv=ECHO, cwd=scratch.as_uri(), timeout_ms=10_000))
        assert (outcome.exit_code, outcome.stdout, outcome.error) == (0, b"hi\n", None), outcome
        run = client.runs[-1]
        tool_s = run.tool_call_s()[0]
        assert run.first_request_at is not None and run.requests
        total = run.requests[1].t - run.spawned_at
        events = [e for e in relay.events() if e.get("environment_id") in (None, f"env-{i}")]
        return relay_phases(events, spawned, run.spawned_at, run.first_request_at, tool_s, total)
    finally:
        await client.close()
        executor.stop()


async def one_direct_sample(hops: Hops, root: Path, i: int) -> dict[str, float]:
    confinement = choose_confinement()
    scratch = root / f"direct-exec-{i}"
    server = start_server("codex", scratch, confinement=confinement)
    client = CodexSubject(hops.through(server.url), root / f"direct-client-{i}", confinement=confinement)
    try:
        await client.start()
        outcome = await client.run(RunRequest(argv=ECHO, cwd=scratch.as_uri(), timeout_ms=10_000))
        assert (outcome.exit_code, outcome.stdout, outcome.error) == (0, b"hi\n", None), outcome
        run = client.runs[-1]
        return {"first process output": run.tool_call_s()[0], "cold total": run.requests[1].t - run.spawned_at}
    finally:
        await client.close()
        server.stop()


def table(direct: list[dict[str, float]], relay: list[dict[str, float]], hop_ms: int) -> list[str]:
    lines = [f"cold connection, codex 0.171.0 client, loopback + {hop_ms} ms each way per hop, {len(relay)} relay / "
             f"{len(direct)} direct samples (ms, p50 / p95)",
             f"{'phase':24} {'direct p50':>11} {'direct p95':>11} {'relay p50':>10} {'relay p95':>10}"]
    for phase in PHASES:
        cells = []
        for samples in (direct, relay):
            values = [s[phase] * 1000 for s in samples if phase in s]
            cells += [f"{percentile(values, 0.5):.1f}", f"{percentile(values, 0.95):.1f}"] if values else ["-", "-"]
        lines.append(f"{phase:24} {cells[0]:>11} {cells[1]:>11} {cells[2]:>10} {cells[3]:>10}")
    return lines


@pytest.mark.timeout(1800)
@pytest.mark.parametrize("hop_ms", [0, 20])
def test_cold_connection_direct_vs_relay(benchmark: BenchmarkFixture, tmp_path: Path, hop_ms: int,
                                        request: pytest.FixtureRequest) -> None:
    if getattr(benchmark, "disabled", False) or not request.config.getoption("benchmark_only", False):
        pytest.skip("a long benchmark (minutes): run with --benchmark-only (./run bench)")
    try:
        codex_binary()
    except CodexUnavailable as exc:
        pytest.skip(f"codex unavailable: {exc}")
    relay = start_relay(tmp_path / "relay", choose_confinement())
    toxiproxy = start_toxiproxy("auto", log_dir=tmp_path / "toxiproxy") if hop_ms else None
    hops = Hops(toxiproxy.control if toxiproxy is not None else None, hop_ms)
    direct: list[dict[str, float]] = []
    relayed: list[dict[str, float]] = []

    async def sample_all() -> None:
        for i in range(SAMPLES):  # interleaved, so machine load drifts hit both alike
            direct.append(await one_direct_sample(hops, tmp_path, i))
            relayed.append(await one_relay_sample(relay, hops, tmp_path, i))

    try:
        benchmark.pedantic(lambda: asyncio.run(sample_all()), rounds=1, iterations=1)  # type: ignore[no-untyped-call]
    finally:
        relay.stop()
        if toxiproxy is not None:
            toxiproxy.stop()
    lines = table(direct, relayed, hop_ms)
    print("\n" + "\n".join(lines))
    benchmark.extra_info["table"] = lines
    p50 = {phase: percentile([s[phase] for s in relayed], 0.5) for phase in PHASES}
    benchmark.extra_info["relay_p50_s"] = p50
    # wide bounds on a shared machine: behaviour, not speed
    assert all(v >= 0 for s in relayed for v in s.values())
    assert p50["cold total"] < 30.0
