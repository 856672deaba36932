"""Scaling curves: one-shot processes for 1, 4, 16, 64 and 256 concurrent clients, ref vs codex, direct.

Closed loop (each client runs its processes one after the other, all clients at once), so throughput is
the server's capacity at that concurrency and latency is start-to-closed under it. Per point: throughput,
p50/p95/p99/max (HdrHistogram), errors, the harness's own CPU per operation and memory per connected
client, and the server's peak RSS. Writes ``reports/load_curves.png`` and ``reports/load_curves.json``.
Run: ``./run bench -k load_curves`` (or ``pytest -p execserver tests/benchmarks/test_load_curves.py
--benchmark-only``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_execserver.client import connect
from pytest_execserver.launch import ServerProcess
from pytest_execserver.load import LoadResult, ensure_fd_capacity, run_load_async
from pytest_execserver.load.resources import ResourceSampler

CLIENTS = (1, 4, 16, 64, 256)
SERVERS = ("ref", "codex")
REPORTS = Path(__file__).resolve().parents[2] / "reports"
Curves = dict[str, dict[int, dict[str, Any]]]

pytestmark = pytest.mark.benchmark(group="load curves")


def _ops_per_client(clients: int) -> int:
    return max(4, 128 // clients)


def _rss_kb() -> int:
    with open("/proc/self/status") as status:
        line = next(x for x in status if x.startswith("VmRSS:"))
    return int(line.split()[1])


async def _harness_kb_per_client(url: str, clients: int) -> float:
    """The harness's memory for one connected, initialized client of ours (RSS growth / clients)."""
    before = _rss_kb()
    opened = await asyncio.gather(*(connect(url) for _ in range(clients)))
    after = _rss_kb()
    for client in opened:
        with contextlib.suppress(Exception):
            await client.close()
    return (after - before) / clients


def _table(curves: Curves) -> list[str]:
    lines = [
        "| server | clients | ops | errors | ops/s | p50 ms | p95 ms | p99 ms | max ms | harness CPU ms/op "
        "| harness KiB/client | server peak RSS MB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for server, points in curves.items():
        for clients, m in sorted(points.items()):
            lines.append(
                f"| {server} | {clients} | {m['operations']:.0f} | {m['errors']:.0f} | {m['throughput']:.0f} "
                f"| {m['p50_ms']:.1f} | {m['p95_ms']:.1f} | {m['p99_ms']:.1f} | {m['max_ms']:.1f} "
                f"| {m['harness_cpu_ms_per_op']:.2f} | {m['harness_kib_per_client']:.0f} | {m['server_rss_mb']:.0f} |"
            )
    return lines


def _plot(curves: Curves, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for (server, points), color in zip(curves.items(), ("tab:blue", "tab:orange", "tab:green"), strict=False):
        xs = sorted(points)
        left.plot(xs, [points[x]["throughput"] for x in xs], marker="o", color=color, label=server)
        for pct, style in (("p50", "-"), ("p95", "--"), ("p99", ":")):
            right.plot(xs, [points[x][f"{pct}_ms"] for x in xs], style, marker="o", color=color,
                       label=f"{server} {pct}")  # fmt: skip
    left.set(xscale="log", xlabel="concurrent clients", ylabel="one-shot processes / s", title="throughput")
    right.set(xscale="log", yscale="log", xlabel="concurrent clients", ylabel="start-to-closed latency (ms)",
              title="latency (HdrHistogram)")  # fmt: skip
    for axis in (left, right):
        axis.set_xticks(list(CLIENTS), [str(c) for c in CLIENTS])
        axis.grid(True, which="both", alpha=0.3)
        axis.legend(fontsize=8)
    fig.suptitle("exec-server load curves (closed loop, direct, confined, 2-core machine)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


@pytest.fixture(scope="module")
def curves() -> Iterator[Curves]:
    collected: Curves = {}
    yield collected
    if not collected:
        return
    REPORTS.mkdir(parents=True, exist_ok=True)
    (REPORTS / "load_curves.json").write_text(json.dumps(collected, indent=1, sort_keys=True))
    (REPORTS / "load_curves.md").write_text("\n".join(_table(collected)) + "\n")
    _plot(collected, REPORTS / "load_curves.png")
    print("\n" + "\n".join(_table(collected)))


@pytest.mark.parametrize("clients", CLIENTS)
@pytest.mark.parametrize("kind", SERVERS)
def test_load_curve_point(
    benchmark: Any, launch_server: Callable[..., ServerProcess], curves: Curves, kind: str, clients: int
) -> None:
    ensure_fd_capacity(clients)  # a clear error when `ulimit -n` is too low for this many clients
    server = launch_server(kind)
    harness_kib = asyncio.run(_harness_kb_per_client(server.url, clients))  # first: before the load grew the heap
    outcome: dict[str, LoadResult] = {}

    def run() -> None:
        outcome["load"] = asyncio.run(
            run_load_async(server.url, clients=clients, processes_per_client=_ops_per_client(clients))
        )

    with ResourceSampler(server.popen.pid, interval_s=0.2) as sampler:
        benchmark.pedantic(run, rounds=1, iterations=1)
    result = outcome["load"]
    metrics: dict[str, Any] = result.metrics()
    metrics["harness_kib_per_client"] = harness_kib
    metrics["server_rss_mb"] = max(s.rss_mb for s in sampler.samples)
    metrics["error_samples"] = result.error_samples[:5]
    benchmark.extra_info.update(metrics)
    curves.setdefault(kind, {})[clients] = metrics
    print(f"\n{kind}: {result.summary()}")
    assert result.errors == 0, result.error_samples[:5]
