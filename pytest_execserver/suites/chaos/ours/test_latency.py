"""Latency and jitter on the proxy: output stays byte-exact and latencies stay within a budget scaled to the RTT.

Each row injects ``latency`` (``ms`` one way, ``± jitter``, in one or both directions) for the whole test and
runs short and bulk processes. The budgets are generous multiples of the injected round trip plus a wide
margin (2 noisy cores); the test body also checks the fault really took effect (no RPC beat the floor).
"""

from __future__ import annotations

import pytest

from pytest_execserver.glue.fixtures import ExecProxy
from pytest_execserver.suites.chaos.ours.chaos_kit import (
    Chaos,
    assert_fault_applied,
    blob_workload,
    min_ms,
    paced_workload,
    seq_workload,
)

pytestmark = [pytest.mark.exec_mode("both"), pytest.mark.asyncio]


def case(name: str, ms: int, jitter: int = 0, direction: str = "both") -> object:
    """One row: the fault, and budgets scaled to its round trip time (RTT)."""
    up = ms if direction in ("both", "upstream") else 0
    down = ms if direction in ("both", "downstream") else 0
    rtt = up + down + 2 * jitter  # worst-case round trip
    marks = [
        pytest.mark.fault("latency", ms=ms, jitter=jitter, direction=direction),
        # a process: start round trip + a few reads / notifications; legacy-read long-polls 250 ms per read
        pytest.mark.latency_budget("process", p50=6 * rtt + 1500, max=15 * rtt + 5000, min_samples=6),
        pytest.mark.latency_budget("first_output", p50=3 * rtt + 1000, max=10 * rtt + 4000, min_samples=6),
        pytest.mark.latency_budget("rpc:process/start", p50=2 * rtt + 500, max=5 * rtt + 2000, min_samples=6),
        pytest.mark.latency_budget("initialize", max=4 * rtt + 2000),
    ]
    floor = max(0, up + down - 2 * jitter) * 0.9  # no round trip can be faster than this
    return pytest.param(floor, id=name, marks=marks)


@pytest.mark.parametrize(
    "floor_ms",
    [
        case("rtt100", 50),
        case("jitter", 40, jitter=30),
        case("upstream-only", 80, direction="upstream"),
        case("downstream-only", 80, direction="downstream"),
    ],
)
async def test_latency(chaos: Chaos, exec_proxy: ExecProxy, floor_ms: float) -> None:
    for n in (100, 1000, 2000, 5000):  # sequential short processes: samples for the p50s
        await chaos.run(seq_workload(n))
    await chaos.run_all(blob_workload(96 * 1024, seed=1), paced_workload(10))
    assert_fault_applied(chaos.history, exec_proxy, "latency")
    assert min_ms(chaos.history, "rpc:process/start") >= floor_ms
