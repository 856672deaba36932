"""Bandwidth limits and TCP slicing: bulk binary and text output arrives byte-exact, in order, within a budget
scaled to the transfer time the limit implies.

Bandwidth rows also check the limit took effect: the bulk process cannot finish faster than its wire bytes
(base64 in JSON: at least 4/3 of the payload) allow at the configured rate.
"""

from __future__ import annotations

import pytest

from pytest_execserver.checks.history import durations_ms
from pytest_execserver.glue.fixtures import ExecProxy
from pytest_execserver.suites.chaos.ours.chaos_kit import (
    Chaos,
    assert_fault_applied,
    blob_workload,
    paced_workload,
    seq_workload,
)

pytestmark = [pytest.mark.exec_mode("both"), pytest.mark.asyncio]

BLOB = 96 * 1024  # bytes of binary stdout in the bulk process


def bandwidth(name: str, kbps: int, direction: str = "both") -> object:
    """A bandwidth row; ``transfer_s`` = seconds the bulk payload needs at the limit (downstream only)."""
    transfer_s = BLOB * 4 / 3 * 8 / 1000 / kbps if direction in ("both", "downstream") else 0.0
    budget_ms = transfer_s * 1000
    marks = [
        pytest.mark.fault("bandwidth", kbps=kbps, direction=direction),
        pytest.mark.latency_budget("process", max=3 * budget_ms + 5000, min_samples=3),
        pytest.mark.latency_budget("rpc:process/start", p50=1000, max=3000, min_samples=3),
    ]
    return pytest.param(transfer_s, id=name, marks=marks)


@pytest.mark.parametrize(
    "transfer_s",
    [
        bandwidth("4mbit", 4096),
        bandwidth("2mbit-downstream", 2048, direction="downstream"),
        bandwidth("256kbit-upstream", 256, direction="upstream"),
    ],
)
async def test_bandwidth(chaos: Chaos, exec_proxy: ExecProxy, transfer_s: float) -> None:
    await chaos.run(seq_workload(2000))
    await chaos.run_all(blob_workload(BLOB, seed=2), paced_workload(10))
    assert_fault_applied(chaos.history, exec_proxy, "bandwidth")
    slowest = max(durations_ms(chaos.history.events, "process"))
    assert slowest >= transfer_s * 1000 * 0.7, f"bulk transfer took {slowest:.0f} ms, limit implies {transfer_s:.2f}s"


def slicer(name: str, average_size: int, size_variation: int = 0, delay_us: int = 0,
           direction: str = "both") -> object:
    marks = [
        pytest.mark.fault("slicer", average_size=average_size, size_variation=size_variation, delay_us=delay_us,
                          direction=direction),
        pytest.mark.latency_budget("process", p50=3000, max=15000, min_samples=4),
        pytest.mark.latency_budget("first_output", p50=2000, max=10000, min_samples=4),
    ]
    return pytest.param(id=name, marks=marks)


@pytest.mark.parametrize(
    "",
    [
        slicer("1-byte", 1, direction="upstream"),  # every request frame dribbles in byte by byte
        slicer("7-bytes-varied", 7, size_variation=6),
        slicer("256-bytes-delayed", 256, size_variation=128, delay_us=100),
        slicer("1k-downstream", 1024, size_variation=900, delay_us=50, direction="downstream"),
    ],
)
async def test_slicer(chaos: Chaos, exec_proxy: ExecProxy) -> None:
    await chaos.run(seq_workload(3000))
    await chaos.run_all(blob_workload(48 * 1024, seed=3), seq_workload(10000), paced_workload(8))
    assert_fault_applied(chaos.history, exec_proxy, "slicer")
