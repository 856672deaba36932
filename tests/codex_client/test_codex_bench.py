"""Benchmark: one-shot ``exec_command`` completion through the Codex CLI's exec client (codex 0.171.0).

Each sample is one tool call as the agent sees it: from the scripted model's answer carrying an
``exec_command`` of ``true`` to codex's next model request carrying its output (codex's start-up is not in
it: one codex process plays all the calls). On the reference server and on codex's own exec-server, with no
latency and with 20 ms each way (Toxiproxy ``latency`` on both streams). The floor for 20 ms is the same
server's no-latency median plus one round trip (2 x 20 ms): ``process/start`` out, its events back.

Run: ``pytest tests/codex_client/test_codex_bench.py --benchmark-only -p execserver``; the table is printed
at the end of the session.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_execserver.faults.toxi import ToxiproxyServer, start_toxiproxy
from pytest_execserver.servers.codex import CodexUnavailable
from pytest_execserver.servers.launch import ServerProcess
from pytest_execserver.subjects.codex import CodexSubject
from pytest_execserver.subjects.scripted_model import ExecCommand, Step

pytestmark = pytest.mark.codex

CALLS = 20
WARMUPS = 3
LATENCY_MS = 20
BENCH_TABLE = pytest.StashKey[dict[tuple[str, int], list[float]]]()


def median(samples: list[float]) -> float:
    ordered = sorted(samples)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def p95(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(0.95 * len(ordered) + 0.5) - 1)]


@pytest.fixture(scope="module")
def toxiproxy_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ToxiproxyServer]:
    server = start_toxiproxy("auto", log_dir=tmp_path_factory.mktemp("toxiproxy"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def table(request: pytest.FixtureRequest) -> dict[tuple[str, int], list[float]]:
    """Samples per (server, latency ms), printed as a table at the end of the session (see conftest)."""
    return request.config.stash.setdefault(BENCH_TABLE, {})


def table_lines(rows: dict[tuple[str, int], list[float]]) -> list[str]:
    """The benchmark table: p50, p95 and the floor (no-latency p50 + 2 x latency) per server and latency."""
    lines = ["one-shot exec_command completion through codex's exec client, ms "
             "(floor = same server's no-latency p50 + 2 x latency)",
             f"{'server':8} {'latency':>8} {'n':>4} {'p50':>8} {'p95':>8} {'floor':>8} {'p50-floor':>10}"]
    for (server, latency), samples in sorted(rows.items()):
        base = rows.get((server, 0))
        floor = median(base) + 2 * latency if base else float("nan")
        lines.append(f"{server:8} {latency:>6}ms {len(samples):>4} {median(samples):8.1f} "
                     f"{p95(samples):8.1f} {floor:8.1f} {median(samples) - floor:10.1f}")
    return lines


@pytest.mark.parametrize("latency_ms", [0, LATENCY_MS], ids=["no-latency", f"latency-{LATENCY_MS}ms"])
@pytest.mark.parametrize("kind", ["ref", "codex"])
def test_codex_client_one_shot_completion(benchmark: Any, launch_server: Callable[..., ServerProcess],
                                          toxiproxy_server: ToxiproxyServer, tmp_path: Path, kind: str,
                                          latency_ms: int, table: dict[tuple[str, int], list[float]]) -> None:
    server = launch_server(kind)
    control = toxiproxy_server.control
    name = f"codex-client-{kind}-{latency_ms}"
    proxy = control.create_proxy(name, upstream=server.url.removeprefix("ws://"))
    subject = CodexSubject(f"ws://{proxy['listen']}", tmp_path / "codex-client", confinement=server.confinement)
    steps: list[Step] = [ExecCommand("true", workdir=str(server.scratch.resolve()), yield_time_ms=10_000)
                         for _ in range(WARMUPS + CALLS)]
    loop = asyncio.new_event_loop()
    try:
        try:
            loop.run_until_complete(subject.start())
        except CodexUnavailable as exc:
            pytest.skip(f"codex unavailable: {exc}")
        if latency_ms:
            for stream in ("upstream", "downstream"):
                control.add_toxic(name, "latency", {"latency": latency_ms}, stream=stream)
        run = benchmark.pedantic(lambda: loop.run_until_complete(subject.play(steps, budget_s=60)),
                                 rounds=1, iterations=1)
    finally:
        loop.run_until_complete(subject.close())
        loop.close()
        control.destroy_proxy(name)
    assert [r.exit_code for r in run.results] == [0] * len(steps), f"codex told the model: {run.told_model}"
    samples = [s * 1000 for s in run.tool_call_s()[WARMUPS:]]
    assert len(samples) == CALLS
    table[(kind, latency_ms)] = samples
    benchmark.extra_info.update({"server": kind, "latency_ms_each_way": latency_ms, "n": len(samples),
                                 "completion_p50_ms": median(samples), "completion_p95_ms": p95(samples),
                                 "startup_s": run.startup_s})
