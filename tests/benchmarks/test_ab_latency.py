"""A/B: one-shot process completion, "legacy-read" (poll ``process/read``) vs "event-stream" (pushed events).

Mirrors the benchmark behind the Codex change that moved one-shot completion from a second
``process/read`` round trip to pushed ``process/exited``/``process/closed`` events. Each sample is a cold
client: connect + initialize, one metadata call (``environment/info``), then ``process/start`` of
``/bin/true`` and wait for completion. The benchmark's timed part is start-to-closed (the one-shot
completion); connect, initialize and the metadata call are timed per sample too and reported in
``extra_info``. 30 samples after 5 warm-ups, with and without 20 ms of injected latency each way.

Run: ``./run bench`` (or ``tox -e bench``); the A/B table is printed at the end of the session.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from pytest_execserver.client import ExecClient, connect
from pytest_execserver.faults.toxi import ToxiproxyControl, ToxiproxyServer, start_toxiproxy
from pytest_execserver.servers.launch import ServerProcess

from .ab_table import ABResult, record_result

ROUNDS = 30
WARMUPS = 5
LATENCY_MS = 20
MODES = ["legacy-read", "event-stream"]


def percentiles(samples: list[float]) -> dict[str, float]:
    """n, p50, p95, p99 and max of ``samples`` (milliseconds), nearest-rank."""
    ordered = sorted(samples)

    def rank(p: float) -> float:
        index = max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))
        return ordered[index]

    return {"n": len(ordered), "p50": rank(50), "p95": rank(95), "p99": rank(99), "max": ordered[-1]}


@pytest.fixture(scope="module")
def toxiproxy_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ToxiproxyServer]:
    server = start_toxiproxy("auto", log_dir=tmp_path_factory.mktemp("toxiproxy"))
    try:
        yield server
    finally:
        server.stop()


class Sampler:
    """Runs cold samples on one event loop and keeps each phase's timings (ms)."""

    def __init__(self, url: str, mode: str) -> None:
        self.url = url
        self.mode = mode
        self.loop = asyncio.new_event_loop()
        self.client: ExecClient | None = None
        self.phases: dict[str, list[float]] = {"connect_initialize": [], "metadata": [], "completion": []}

    def setup(self) -> tuple[tuple[()], dict[str, Any]]:
        """Untimed by pytest-benchmark: close the last client, then connect cold and make the metadata call."""
        self._close_client()
        started = time.perf_counter()
        self.client = self.loop.run_until_complete(connect(self.url, mode=self.mode))
        connected = time.perf_counter()
        self.loop.run_until_complete(self.client.call("environment/info"))
        done = time.perf_counter()
        self.phases["connect_initialize"].append((connected - started) * 1e3)
        self.phases["metadata"].append((done - connected) * 1e3)
        return (), {}

    def one_shot(self) -> None:
        """Timed: ``process/start`` of /bin/true and wait until it is closed."""
        assert self.client is not None
        started = time.perf_counter()
        result = self.loop.run_until_complete(self.client.run(["/bin/true"], timeout=30))
        self.phases["completion"].append((time.perf_counter() - started) * 1e3)
        assert result.exit_code == 0

    def close(self) -> None:
        self._close_client()
        self.loop.close()

    def _close_client(self) -> None:
        if self.client is not None:
            self.loop.run_until_complete(self.client.close())
            self.client = None


@pytest.mark.parametrize("latency_ms", [0, LATENCY_MS], ids=["no-latency", f"latency-{LATENCY_MS}ms"])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("kind", ["ref", "codex"])
def test_one_shot_completion(
    benchmark: Any,
    launch_server: Callable[..., ServerProcess],
    toxiproxy_server: ToxiproxyServer,
    kind: str,
    mode: str,
    latency_ms: int,
) -> None:
    server = launch_server(kind)
    control: ToxiproxyControl = toxiproxy_server.control
    name = f"ab-{kind}-{mode}-{latency_ms}"
    proxy = control.create_proxy(name, upstream=server.url.removeprefix("ws://"))
    try:
        if latency_ms:
            for stream in ("upstream", "downstream"):
                control.add_toxic(name, "latency", {"latency": latency_ms}, stream=stream)
        sampler = Sampler(f"ws://{proxy['listen']}", mode)
        try:
            benchmark.pedantic(sampler.one_shot, setup=sampler.setup, rounds=ROUNDS, warmup_rounds=WARMUPS)
        finally:
            sampler.close()
    finally:
        control.destroy_proxy(name)
    measured = sampler.phases["completion"][-ROUNDS:]
    stats = percentiles(measured)
    benchmark.extra_info.update({f"completion_{k}": v for k, v in stats.items()})
    for phase in ("connect_initialize", "metadata"):
        phase_stats = percentiles(sampler.phases[phase][-ROUNDS:])
        benchmark.extra_info.update({f"{phase}_{k}": v for k, v in phase_stats.items()})
    benchmark.extra_info.update({"server": kind, "mode": mode, "latency_ms_each_way": latency_ms})
    record_result(ABResult(kind, mode, latency_ms, stats, percentiles(sampler.phases["connect_initialize"])))
