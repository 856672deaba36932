"""Receiver lag: the client stops reading for a while (ours: its consumer pauses, and with ``queue_limit`` its
queues overflow; a client program is stopped with SIGSTOP and continued), so the server's output backs up and
the client must catch up -- every byte exactly once, in order."""

from __future__ import annotations

import pytest

from pytest_execserver.glue.fixtures import ExecProxy
from pytest_execserver.subjects.run import RecordingSubject
from pytest_execserver.suites.chaos.kit import (
    blob_workload,
    check,
    fault_applied,
    paced_workload,
    run_checked,
    seq_workload,
    streaming,
)

pytestmark = pytest.mark.asyncio

STREAM = paced_workload(30, per_batch=200, sleep_s=0.03)


@pytest.mark.fault("receiver_lag", pause_ms=500)
@pytest.mark.latency_budget("process", max=8500, min_samples=3)
async def test_receiver_lag_from_the_start(exec_subject: RecordingSubject, exec_proxy: ExecProxy) -> None:
    await run_checked(exec_subject, STREAM)
    await run_checked(exec_subject, seq_workload(20000))
    await run_checked(exec_subject, blob_workload(128 * 1024, seed=4))
    fault_applied(exec_proxy, "receiver_lag")
    assert exec_subject.lag is not None and exec_subject.lag.landed == [500], "the lag never reached the client"


@pytest.mark.parametrize("queue_limit", [None, 4], ids=["pause-1000", "pause-1000-queue-4"])
@pytest.mark.latency_budget("process", max=9000, min_samples=2)
async def test_receiver_lag_mid_stream(exec_subject: RecordingSubject, exec_proxy: ExecProxy,
                                       queue_limit: int | None) -> None:
    run = await streaming(exec_subject, STREAM)
    exec_proxy.receiver_lag(pause_ms=1000, queue_limit=queue_limit)
    check(await run, STREAM, exec_subject)
    await run_checked(exec_subject, seq_workload(20000))
    fault_applied(exec_proxy, "receiver_lag")
    assert exec_subject.lag is not None and exec_subject.lag.landed == [1000], "the lag never reached the client"
