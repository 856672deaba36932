"""Receiver lag: the client's consumer stops for a while (and, with ``queue_limit``, its notification queue
overflows), so it must catch up by reading back with ``process/read`` -- every byte exactly once, in order.

In legacy-read mode the pause simply delays the long-poll reads; the server retains the output meanwhile.
"""

from __future__ import annotations

import itertools

import pytest

from pytest_execserver.checks.invariants import ExecHistory
from pytest_execserver.glue.fixtures import ExecProxy
from pytest_execserver.suites.chaos.ours.chaos_kit import (
    Chaos,
    assert_fault_applied,
    blob_workload,
    ops,
    paced_workload,
    seq_workload,
)

pytestmark = [pytest.mark.exec_mode("both"), pytest.mark.asyncio]


def lag(name: str, pause_ms: int, queue_limit: int | None = None, at_ms: int = 0) -> object:
    marks = [
        pytest.mark.fault("receiver_lag", pause_ms=pause_ms, queue_limit=queue_limit, at_ms=at_ms),
        pytest.mark.latency_budget("process", max=at_ms + pause_ms + 8000, min_samples=3),
        pytest.mark.latency_budget("rpc:process/start", p50=1000, max=3000, min_samples=3),
    ]
    return pytest.param(pause_ms, queue_limit, id=name, marks=marks)


def longest_stall_ms(history: ExecHistory) -> float:
    """The longest time between consecutive deliveries (or from the first start to the first delivery)."""
    start = ops(history, "rpc:process/start", "ok")[0].time_ns
    times = [start, *(e.time_ns for e in ops(history, "deliver:output"))]
    return max(((b - a) / 1e6 for a, b in itertools.pairwise(times)), default=0.0)


@pytest.mark.parametrize(
    ("pause_ms", "queue_limit"),
    [
        lag("pause-500", 500),
        lag("pause-500-queue-4", 500, queue_limit=4),
        lag("mid-stream-1000", 1000, at_ms=350),
        # the limit lands while the processes run: their queues shrink too, so the pause overflows them
        lag("mid-stream-1000-queue-4", 1000, queue_limit=4, at_ms=350),
    ],
)
async def test_receiver_lag(chaos: Chaos, exec_proxy: ExecProxy, pause_ms: int, queue_limit: int | None) -> None:
    await chaos.run_all(paced_workload(30, per_batch=200, sleep_s=0.03), seq_workload(20000),
                        blob_workload(128 * 1024, seed=4))
    assert_fault_applied(chaos.history, exec_proxy, "receiver_lag")
    assert longest_stall_ms(chaos.history) >= pause_ms * 0.6, "the consumer never stalled"
    if chaos.client.mode == "event-stream" and queue_limit is not None:
        reasons = {e.data.get("reason") for e in ops(chaos.history, "recover", "ok")}
        assert "lag" in reasons, f"queue overflow should be recovered by read-back (recover reasons: {reasons})"
    await chaos.run(seq_workload(1000))  # and the client is healthy afterwards
