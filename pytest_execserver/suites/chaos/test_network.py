"""Latency, jitter, bandwidth and TCP slicing: output stays byte-exact and latencies stay within budgets scaled
to the fault (generous multiples plus wide margins: the machine is noisy)."""

from __future__ import annotations

import pytest

from pytest_execserver.glue.fixtures import ExecProxy
from pytest_execserver.subjects.run import RecordingSubject
from pytest_execserver.suites.chaos.kit import (
    blob_workload,
    fault_applied,
    paced_workload,
    run_checked,
    seq_workload,
)

pytestmark = pytest.mark.asyncio


def latency(name: str, ms: int, jitter: int = 0, direction: str = "both") -> object:
    up = ms if direction in ("both", "upstream") else 0
    down = ms if direction in ("both", "downstream") else 0
    rtt = up + down + 2 * jitter
    marks = [
        pytest.mark.fault("latency", ms=ms, jitter=jitter, direction=direction),
        pytest.mark.latency_budget("process", p50=8 * rtt + 1500, max=20 * rtt + 5000, min_samples=5),
        pytest.mark.latency_budget("first_output", p50=3 * rtt + 1000, max=10 * rtt + 4000, min_samples=5),
        pytest.mark.latency_budget("initialize", max=4 * rtt + 2000),
    ]
    return pytest.param(id=name, marks=marks)


@pytest.mark.parametrize("", [latency("rtt100", 50), latency("jitter", 40, jitter=30),
                              latency("upstream-only", 80, direction="upstream"),
                              latency("downstream-only", 80, direction="downstream")])
async def test_latency(exec_subject: RecordingSubject, exec_proxy: ExecProxy) -> None:
    for n in (100, 1000, 5000):
        await run_checked(exec_subject, seq_workload(n))
    await run_checked(exec_subject, blob_workload(96 * 1024, seed=1))
    await run_checked(exec_subject, paced_workload(10))
    fault_applied(exec_proxy, "latency")


def bandwidth(name: str, kbps: int, direction: str = "both") -> object:
    transfer_s = 96 * 1024 * 4 / 3 * 8 / 1000 / kbps if direction in ("both", "downstream") else 0.0
    marks = [pytest.mark.fault("bandwidth", kbps=kbps, direction=direction),
             pytest.mark.latency_budget("process", max=3 * transfer_s * 1000 + 6000, min_samples=3)]
    return pytest.param(id=name, marks=marks)


@pytest.mark.parametrize("", [bandwidth("4mbit", 4096), bandwidth("2mbit-downstream", 2048, "downstream"),
                              bandwidth("256kbit-upstream", 256, "upstream")])
async def test_bandwidth(exec_subject: RecordingSubject, exec_proxy: ExecProxy) -> None:
    await run_checked(exec_subject, seq_workload(2000))
    await run_checked(exec_subject, blob_workload(96 * 1024, seed=2))
    await run_checked(exec_subject, paced_workload(10))
    fault_applied(exec_proxy, "bandwidth")


def slicer(name: str, average_size: int, size_variation: int = 0, delay_us: int = 0,
           direction: str = "both") -> object:
    marks = [pytest.mark.fault("slicer", average_size=average_size, size_variation=size_variation,
                               delay_us=delay_us, direction=direction),
             pytest.mark.latency_budget("process", p50=3000, max=15000, min_samples=3)]
    return pytest.param(id=name, marks=marks)


@pytest.mark.parametrize("", [slicer("1-byte-upstream", 1, direction="upstream"),
                              slicer("7-bytes-varied", 7, size_variation=6),
                              slicer("1k-downstream", 1024, size_variation=900, delay_us=50, direction="downstream")])
async def test_slicer(exec_subject: RecordingSubject, exec_proxy: ExecProxy) -> None:
    await run_checked(exec_subject, seq_workload(3000))
    await run_checked(exec_subject, blob_workload(48 * 1024, seed=3))
    await run_checked(exec_subject, paced_workload(8))
    fault_applied(exec_proxy, "slicer")
