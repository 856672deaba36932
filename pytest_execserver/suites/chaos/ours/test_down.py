"""The proxy goes down (connections dropped, new ones refused).

- A short outage, shorter than the client's recovery deadline: the client keeps retrying, resumes the
  session and delivers every byte.
- A permanent outage, longer than the recovery deadline: every waiter gets a typed ``TransportError`` within
  a bounded time -- never a hang, never a success with missing bytes; what did arrive is an exact prefix.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from pytest_execserver.checks.invariants import ExecHistory
from pytest_execserver.client import TransportError
from pytest_execserver.glue.fixtures import ClientFactory, ExecProxy
from pytest_execserver.suites.chaos.compare import assert_prefix
from pytest_execserver.suites.chaos.ours.chaos_kit import (
    Chaos,
    assert_fault_applied,
    assert_recovered_by_read,
    delivered,
    ops,
    paced_workload,
    seq_workload,
    start_workload,
)
from pytest_execserver.waiting import wait_until

pytestmark = [pytest.mark.exec_mode("both"), pytest.mark.asyncio]

STREAM = paced_workload(40, per_batch=150, sleep_s=0.025)  # ~1 s of output


@pytest.mark.parametrize(
    "down_ms",
    [
        pytest.param(300, id="300ms", marks=[pytest.mark.fault("down", at_ms=300, duration_ms=300),
                                             pytest.mark.latency_budget("process", max=10000, min_samples=2)]),
        pytest.param(1500, id="1500ms", marks=[pytest.mark.fault("down", at_ms=300, duration_ms=1500),
                                               pytest.mark.latency_budget("process", max=12000, min_samples=2)]),
    ],
)
async def test_short_outage_recovers(chaos: Chaos, exec_proxy: ExecProxy, down_ms: int) -> None:
    """Down (scheduled by the marker) in the middle of a stream, for less than the recovery deadline."""
    handle = await start_workload(chaos.client, chaos.history, STREAM, chaos.scratch)
    result = await handle.wait(20)
    assert result.stdout == STREAM.stdout and result.stderr == STREAM.stderr, "output lost or corrupted"
    assert result.exit_code == STREAM.exit_code
    assert_fault_applied(chaos.history, exec_proxy, "down")
    assert_recovered_by_read(chaos.history, chaos.client)
    failed_connects = ops(chaos.history, "connect", "fail") + ops(chaos.history, "ws_handshake", "fail")
    if down_ms >= 1000:
        assert failed_connects, "reconnect attempts during the outage should have been refused"
    await chaos.run(seq_workload(3000))


@pytest.mark.latency_budget("process", max=10000, min_samples=1)
async def test_outage_with_context_manager(chaos: Chaos, exec_proxy: ExecProxy) -> None:
    """``with exec_proxy.down():`` while a process streams; the stream completes afterwards."""
    handle = await start_workload(chaos.client, chaos.history, STREAM, chaos.scratch)
    await wait_until(lambda: delivered(chaos.history, handle.process_id), 10, "the stream's first output")
    with exec_proxy.down():
        await asyncio.sleep(0.5)
    result = await handle.wait(20)
    assert result.stdout == STREAM.stdout and result.stderr == STREAM.stderr
    assert_fault_applied(chaos.history, exec_proxy, "down")
    assert_recovered_by_read(chaos.history, chaos.client)


DEADLINE_S = 1.0  # the client's recovery deadline in the permanent-outage test
BOUND_S = DEADLINE_S + 3.0  # the error must arrive within this long after the cut


async def test_permanent_outage_fails_typed_and_bounded(
    exec_client_factory: ClientFactory, exec_history: ExecHistory, exec_scratch: Path, exec_proxy: ExecProxy
) -> None:
    client = await exec_client_factory(recovery_deadline_s=DEADLINE_S)
    workload = paced_workload(60, per_batch=100, sleep_s=0.03)  # ~2 s: still running when the proxy dies
    handle = await start_workload(client, exec_history, workload, exec_scratch)
    await wait_until(lambda: delivered(exec_history, handle.process_id), 10, "the stream's first output")
    with exec_proxy.down():
        cut = time.monotonic()
        with pytest.raises(TransportError) as excinfo:
            await handle.wait(BOUND_S)  # a TimeoutError here would be a hang
        elapsed = time.monotonic() - cut
        with pytest.raises(TransportError):
            await asyncio.wait_for(client.call("process/read", {"processId": handle.process_id}), BOUND_S)
        await asyncio.sleep(max(0.0, DEADLINE_S + 0.5 - (time.monotonic() - cut)))  # still down past the deadline
    assert str(excinfo.value), "the TransportError carries no message"
    assert DEADLINE_S * 0.5 <= elapsed <= BOUND_S, f"TransportError after {elapsed:.2f}s"
    partial = handle.result()
    assert_prefix(partial.stdout, workload.stdout, "stdout delivered before the outage")
    assert_prefix(partial.stderr, workload.stderr, "stderr delivered before the outage")
    assert partial.stdout, "nothing was delivered before the outage (the cut was not mid-stream)"
    assert ops(exec_history, "reconnect", "fail"), "the client should have given up on reconnecting"
    assert ops(exec_history, "transport_error"), "no transport_error in the history"
    assert_fault_applied(exec_history, exec_proxy, "down")
