"""Scaling curves: one-shot processes for 1, 4, 16, 64 and 256 concurrent clients, ref vs codex, direct and
through a Toxiproxy proxy adding 10 ms each way (20 ms round trip).

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
from pytest_execserver.faults.toxi import ToxiproxyControl
from pytest_execserver.glue.load_state import note_curves
from pytest_execserver.load import LoadResult, ensure_fd_capacity, run_load_async
from pytest_execserver.load.resources import ResourceSampler
from pytest_execserver.servers.launch import ServerProcess

CLIENTS = (1, 4, 16, 64, 256)
SERVERS = ("ref", "codex")
PATHS = ("direct", "20ms")
ONE_WAY_LATENCY_MS = 10
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
    for server, points in sorted(curves.items()):
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
    colors = ("tab:blue", "tab:cyan", "tab:orange", "tab:red", "tab:green", "tab:olive")
    for (series, points), color in zip(sorted(curves.items()), colors, strict=False):
        xs = sorted(points)
        left.plot(xs, [points[x]["throughput"] for x in xs], marker="o", color=color, label=series)
        for pct, style in (("p50", "-"), ("p99", ":")):
            right.plot(xs, [points[x][f"{pct}_ms"] for x in xs], style, marker="o", color=color,
                       label=f"{series} {pct}")  # fmt: skip
    left.set(xscale="log", xlabel="concurrent clients", ylabel="one-shot processes / s", title="throughput")
    right.set(xscale="log", yscale="log", xlabel="concurrent clients", ylabel="start-to-closed latency (ms)",
              title="latency (HdrHistogram)")  # fmt: skip
    for axis in (left, right):
        axis.set_xticks(list(CLIENTS), [str(c) for c in CLIENTS])
        axis.grid(True, which="both", alpha=0.3)
        axis.legend(fontsize=8)
    fig.suptitle("exec-server load curves (closed loop, confined, 2-core machine; 20ms = via Toxiproxy)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


@pytest.fixture(scope="module")
def curves(request: pytest.FixtureRequest) -> Iterator[Curves]:
    collected: Curves = {}
    yield collected
    if not collected:
        return
    REPORTS.mkdir(parents=True, exist_ok=True)
    (REPORTS / "load_curves.json").write_text(json.dumps(collected, indent=1, sort_keys=True))
    (REPORTS / "load_curves.md").write_text("\n".join(_table(collected)) + "\n")
    _plot(collected, REPORTS / "load_curves.png")
    note_curves(request.config, REPORTS / "load_curves.png")  # linked from the HTML report
    print("\n" + "\n".join(_table(collected)))


@pytest.fixture
def target(request: pytest.FixtureRequest) -> Iterator[Callable[[str, str], str]]:
    """``target(server_url, path)``: the URL to load -- the server's own, or a proxy with added latency."""
    made: list[str] = []
    proxies: list[ToxiproxyControl] = []

    def url_for(server_url: str, path: str) -> str:
        if path == "direct":
            return server_url
        toxiproxy: ToxiproxyControl = request.getfixturevalue("toxiproxy")  # started only when needed
        proxies.append(toxiproxy)
        name = f"load-curve-{len(made)}"
        proxy = toxiproxy.create_proxy(name, server_url.removeprefix("ws://"))
        made.append(name)
        for stream in ("upstream", "downstream"):
            toxiproxy.add_toxic(name, "latency", {"latency": ONE_WAY_LATENCY_MS, "jitter": 0}, stream=stream)
        return f"ws://{proxy['listen']}"

    yield url_for
    for name, control in zip(made, proxies, strict=True):
        with contextlib.suppress(Exception):
            control.destroy_proxy(name)


@pytest.mark.parametrize("clients", CLIENTS)
@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("kind", SERVERS)
def test_load_curve_point(
    benchmark: Any, launch_server: Callable[..., ServerProcess], target: Callable[[str, str], str],
    curves: Curves, kind: str, path: str, clients: int,
) -> None:  # fmt: skip
    if benchmark.disabled:  # `./run tests` runs benchmarks once with --benchmark-disable: these are minutes
        pytest.skip("load curves run only as benchmarks (./run bench -k load_curves)")
    ensure_fd_capacity(clients)  # a clear error when `ulimit -n` is too low for this many clients
    server = launch_server(kind)
    url = target(server.url, path)
    harness_kib = asyncio.run(_harness_kb_per_client(url, clients))  # first: before the load grew the heap
    outcome: dict[str, LoadResult] = {}

    def run() -> None:
        outcome["load"] = asyncio.run(
            run_load_async(url, clients=clients, processes_per_client=_ops_per_client(clients))
        )

    with ResourceSampler(server.popen.pid, interval_s=0.2) as sampler:
        benchmark.pedantic(run, rounds=1, iterations=1)
    result = outcome["load"]
    metrics: dict[str, Any] = result.metrics()
    metrics["harness_kib_per_client"] = harness_kib
    metrics["server_rss_mb"] = max(s.rss_mb for s in sampler.samples)
    metrics["error_samples"] = result.error_samples[:5]
    benchmark.extra_info.update(metrics)
    curves.setdefault(f"{kind} {path}", {})[clients] = metrics
    print(f"\n{kind} {path}: {result.summary()}")
    assert result.errors == 0, result.error_samples[:5]
