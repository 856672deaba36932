"""Receiver lag: the client stops reading for a while (ours: its consumer pauses, and with ``queue_limit`` its
queues overflow; a client program is stopped with SIGSTOP and continued), so the server's output backs up and
the client must catch up -- every byte exactly once, in order."""

from __future__ import annotations

import pytest

from pytest_execserver.fixtures import ExecProxy
from pytest_execserver.subject_run import RecordingSubject
from pytest_execserver.suites.chaos.kit import blob_workload, fault_applied, paced_workload, run_checked, seq_workload

pytestmark = pytest.mark.asyncio


def lag(name: str, pause_ms: int, queue_limit: int | None = None, at_ms: int = 0) -> object:
    marks = [pytest.mark.fault("receiver_lag", pause_ms=pause_ms, queue_limit=queue_limit, at_ms=at_ms),
             pytest.mark.latency_budget("process", max=at_ms + pause_ms + 8000, min_samples=3)]
    return pytest.param(id=name, marks=marks)


@pytest.mark.parametrize("", [lag("pause-500", 500), lag("mid-stream-1000", 1000, at_ms=350),
                              lag("mid-stream-1000-queue-4", 1000, queue_limit=4, at_ms=350)])
async def test_receiver_lag(exec_subject: RecordingSubject, exec_proxy: ExecProxy) -> None:
    await run_checked(exec_subject, paced_workload(30, per_batch=200, sleep_s=0.03))
    await run_checked(exec_subject, seq_workload(20000))
    await run_checked(exec_subject, blob_workload(128 * 1024, seed=4))
    fault_applied(exec_proxy, "receiver_lag")
