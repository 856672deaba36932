"""Seeded fault schedules (``@pytest.mark.fault_schedule``): several faults, one after another, over a window while a
long stream runs and short processes keep starting. Same seed, same schedule; the seed is printed on failure.

A fault can cut the connection while a ``process/start`` is in flight: the client then raises
``StartOutcomeUnknown`` (it never re-sends a start blindly) -- a typed outcome, which the short-process loop
accepts, and after which the long stream is started again under a new process id (a schedule may open with
a cut a few ms in); once started, the long stream must complete byte-exact.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from pytest_execserver.client import StartOutcomeUnknown
from pytest_execserver.glue.fixtures import ExecProxy
from pytest_execserver.suites.chaos.compare import assert_bytes
from pytest_execserver.suites.chaos.ours.chaos_kit import (
    Chaos,
    paced_workload,
    seq_workload,
    start_workload,
)
from pytest_execserver.waiting import wait_until

pytestmark = [pytest.mark.exec_mode("both"), pytest.mark.asyncio]

NETWORK = ("latency", "bandwidth", "slicer")
CUTS = ("disconnect", "down", "latency")
EVERYTHING = ("latency", "bandwidth", "slicer", "disconnect", "down", "receiver_lag")


def schedule(name: str, kinds: tuple[str, ...], *, seed: int | None, duration_ms: int = 2000) -> object:
    marks = [
        pytest.mark.fault_schedule(*kinds, seed=seed, duration_ms=duration_ms),
        pytest.mark.latency_budget("process", max=duration_ms + 15000, min_samples=3),
        pytest.mark.latency_budget("rpc:process/start", p50=1500, min_samples=3),
    ]
    return pytest.param(kinds, duration_ms, id=name, marks=marks)


@pytest.mark.parametrize(
    ("kinds", "duration_ms"),
    [
        schedule("network-seed11", NETWORK, seed=11),
        schedule("cuts-seed7", CUTS, seed=7),
        schedule("everything-seed3", EVERYTHING, seed=3, duration_ms=2400),
        schedule("everything-session-seed", EVERYTHING, seed=None, duration_ms=2400),  # --execserver-seed
    ],
)
async def test_seeded_schedule(chaos: Chaos, exec_proxy: ExecProxy, kinds: tuple[str, ...], duration_ms: int) -> None:
    started = time.monotonic()
    stream = paced_workload(duration_ms // 25 + 8, per_batch=100, sleep_s=0.025)  # outlasts the window
    for attempt in range(5):
        try:
            handle = await start_workload(chaos.client, chaos.history, stream, chaos.scratch)
            break
        except StartOutcomeUnknown:
            if attempt == 4:
                raise
            await wait_until(lambda: chaos.client.connected, 20, "the client to reconnect")

    completed = unknown = 0
    while time.monotonic() - started < duration_ms / 1000:  # short processes under whatever fault is active
        try:
            await chaos.run(seq_workload(4000), timeout=20)
            completed += 1
        except StartOutcomeUnknown:
            unknown += 1
        await asyncio.sleep(0.05)
    result = await handle.wait(30)
    assert_bytes(result.stdout, stream.stdout, "stream stdout")
    assert_bytes(result.stderr, stream.stderr, "stream stderr")
    assert result.exit_code == stream.exit_code
    assert completed >= 2, f"only {completed} short processes completed ({unknown} with unknown start outcome)"

    applied = {e.data.get("kind") for e in chaos.history.select("fault")}
    assert set(kinds) <= applied, f"schedule kinds {set(kinds) - applied} never applied"
    assert not exec_proxy.injector.errors, f"fault injector errors: {exec_proxy.injector.errors}"
