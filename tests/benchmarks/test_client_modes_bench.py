"""Client round-trip cost per mode: ``run(echo)`` and 1 MiB of output, event-stream vs legacy-read; and one
500 MB output per mode and server, byte-exact, with the client's peak RSS and held bytes
(``./run bench -k 500MB -s``; skipped when benchmarks are disabled, as in ``./run tests``)."""

from __future__ import annotations

import asyncio
import resource
import time
from collections.abc import Callable
from typing import Any

import pytest

from pytest_execserver.client import ExecClient, connect
from pytest_execserver.servers.launch import ServerProcess

MODES = ["event-stream", "legacy-read"]
WORKLOADS = {
    "echo": (["/bin/echo", "hi"], 3),
    "1MiB": (["/bin/sh", "-c", "head -c 1048576 /dev/zero"], 1048576),
}


@pytest.mark.parametrize("kind", ["ref", "codex"])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("workload", list(WORKLOADS))
def test_client_run(
    benchmark: Any, launch_server: Callable[..., ServerProcess], kind: str, mode: str, workload: str
) -> None:
    server = launch_server(kind)
    argv, size = WORKLOADS[workload]
    loop = asyncio.new_event_loop()
    client: ExecClient = loop.run_until_complete(connect(server.url, mode=mode))
    try:

        def once() -> None:
            result = loop.run_until_complete(client.run(argv, timeout=10))
            assert len(result.stdout) == size

        benchmark.pedantic(once, rounds=10, warmup_rounds=1)
    finally:
        loop.run_until_complete(client.close())
        loop.close()


BIG = 500_000_000


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["ref", "codex"])
@pytest.mark.parametrize("mode", MODES)
def test_client_500MB_output(
    benchmark: Any, launch_server: Callable[..., ServerProcess], kind: str, mode: str
) -> None:
    """500 MB through one ``run``: byte-exact, no read-back in event-stream mode, held bytes bounded.

    The client keeps the output it delivered (the result's chunks, shared with the history) and joins
    ``stdout`` once, so its RSS is about twice the output; what it holds *undelivered* (``flow.peak``) is
    bounded by flow control (client/flow.py).
    """
    if benchmark.disabled:
        pytest.skip("500 MB benchmark: run with ./run bench -k 500MB")
    server = launch_server(kind)
    argv = ["/bin/sh", "-c", f"head -c {BIG} /dev/zero | tr '\\0' y"]
    loop = asyncio.new_event_loop()
    client: ExecClient = loop.run_until_complete(connect(server.url, mode=mode))
    try:

        def once() -> float:
            started = time.monotonic()
            result = loop.run_until_complete(client.run(argv, cwd=server.scratch, timeout=300))
            elapsed = time.monotonic() - started
            assert len(result.stdout) == BIG and result.stdout.count(b"y") == BIG
            return elapsed

        elapsed = benchmark.pedantic(once, rounds=1, iterations=1)
        rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        held_mib = client.flow.peak / 2**20
        reasons = [e.data.get("reason") for e in client.history.select("recover", "ok")]
        benchmark.extra_info.update(seconds=elapsed, peak_rss_mb=rss_mb, held_peak_mib=held_mib,
                                    recovers=len(reasons))  # fmt: skip
        print(f"\n500MB {kind} {mode}: {elapsed:.2f} s, {BIG / elapsed / 1e6:.0f} MB/s, peak RSS {rss_mb:.0f} MB, "
              f"held peak {held_mib:.1f} MiB, read-backs {reasons.count('evicted')} evicted-fill, "
              f"{len(reasons) - reasons.count('evicted')} other")
        if mode == "event-stream":
            assert not reasons
    finally:
        loop.run_until_complete(client.close())
        loop.close()
