"""Every fault kind, in both client modes, against the reference server behind embedded Toxiproxy.

Each test runs a process whose output is known, registers it with ``exec_history.expect_output`` and lets
the plugin's post-test checks (ordered, byte-exact, recovered, reported, sandbox flag) judge the history.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest

from pytest_execserver.checks.invariants import ExecHistory
from pytest_execserver.client import ExecClient, StartOutcomeUnknown, TransportError
from pytest_execserver.faults.kinds import Fault
from pytest_execserver.glue.fixtures import ExecProxy
from pytest_execserver.waiting import wait_until

pytestmark = [pytest.mark.exec_mode("both"), pytest.mark.timeout(60)]

LINES = 12
SCRIPT = f"i=1; while [ $i -le {LINES} ]; do echo line$i; i=$((i+1)); sleep 0.04; done"
EXPECTED = b"".join(b"line%d\n" % i for i in range(1, LINES + 1))


async def run_checked(client: ExecClient, history: ExecHistory, scratch: Path, script: str = SCRIPT,
                      expected: bytes = EXPECTED) -> None:
    handle = await client.start(["/bin/sh", "-c", script], cwd=scratch)
    history.expect_output(handle.process_id, stdout=expected)
    result = await handle.wait(20)
    assert result.exit_code == 0
    assert result.stdout == expected


@pytest.mark.fault("latency", ms=30, jitter=10)
async def test_latency(exec_client: ExecClient, exec_history: ExecHistory, exec_scratch: Path) -> None:
    await run_checked(exec_client, exec_history, exec_scratch)


@pytest.mark.fault("bandwidth", kbps=64)
async def test_bandwidth(exec_client: ExecClient, exec_history: ExecHistory, exec_scratch: Path) -> None:
    await run_checked(exec_client, exec_history, exec_scratch, "head -c 3000 /dev/zero | tr '\\0' a",
                      b"a" * 3000)


@pytest.mark.fault("slicer", average_size=7, size_variation=5, delay_us=200)
async def test_slicer(exec_client: ExecClient, exec_history: ExecHistory, exec_scratch: Path) -> None:
    await run_checked(exec_client, exec_history, exec_scratch)


@pytest.mark.parametrize("mode", ["reset", "close"])
async def test_disconnect(exec_client: ExecClient, exec_proxy: ExecProxy, exec_history: ExecHistory,
                          exec_scratch: Path, mode: str) -> None:
    exec_proxy.disconnect(after_ms=150, mode=mode)
    await run_checked(exec_client, exec_history, exec_scratch)
    assert exec_client.reconnects >= 1 or any(e.op == "reconnect" for e in exec_history.events)


@pytest.mark.fault("disconnect", after_bytes=1500)
async def test_disconnect_after_bytes(exec_client: ExecClient, exec_history: ExecHistory,
                                      exec_scratch: Path) -> None:
    await run_checked(exec_client, exec_history, exec_scratch)
    assert any(e.op == "reconnect" and e.kind == "ok" for e in exec_history.events)


async def test_down(exec_client: ExecClient, exec_proxy: ExecProxy, exec_history: ExecHistory,
                    exec_scratch: Path) -> None:
    handle = await exec_client.start(["/bin/sh", "-c", SCRIPT], cwd=exec_scratch)
    exec_history.expect_output(handle.process_id, stdout=EXPECTED)
    await wait_until(lambda: any(e.process_id == handle.process_id for e in exec_history.select("deliver:output")),
                     10, "the first output")
    with exec_proxy.down():
        await asyncio.sleep(0.25)
    result = await handle.wait(20)
    assert result.stdout == EXPECTED


@pytest.mark.fault("receiver_lag", pause_ms=300, queue_limit=2)
async def test_receiver_lag(exec_client: ExecClient, exec_history: ExecHistory, exec_scratch: Path) -> None:
    await run_checked(exec_client, exec_history, exec_scratch)


LONG = "i=1; while [ $i -le 20 ]; do echo line$i; i=$((i+1)); sleep 0.05; done"
LONG_EXPECTED = b"".join(b"line%d\n" % i for i in range(1, 21))


SEEDED = pytest.mark.fault_schedule("latency", "slicer", "disconnect", Fault("receiver_lag", pause_ms=100),
                                    duration_ms=800)
# what seed 13 drew on a busy machine: a cut while the first process/start is in flight
EARLY_CUT = pytest.mark.fault_schedule(Fault("disconnect", at_ms=1, mode="reset"), "latency", "slicer",
                                       duration_ms=800)


@pytest.mark.parametrize("schedule", [pytest.param("seeded", marks=SEEDED), pytest.param("early-cut", marks=EARLY_CUT)])
async def test_chaos(exec_client: ExecClient, exec_history: ExecHistory, exec_scratch: Path, schedule: str) -> None:
    # A seeded cut may land while process/start is in flight: the client then raises the typed
    # StartOutcomeUnknown (it never re-sends a start blindly), and the test starts a new process once the
    # client is back. Treating that as a failure made this test fail for some seeds, more often under load.
    for attempt in range(3):
        try:
            await run_checked(exec_client, exec_history, exec_scratch, LONG, LONG_EXPECTED)
            return
        except StartOutcomeUnknown:
            if attempt == 2:
                raise
            await wait_until(lambda: exec_client.connected, 20, "the client to reconnect")


@pytest.mark.chaos("latency", "slicer", "disconnect", "down", Fault("receiver_lag", pause_ms=100))
async def test_under_each_fault(exec_client: ExecClient, exec_history: ExecHistory, exec_scratch: Path,
                                exec_fault: Fault) -> None:
    await run_checked(exec_client, exec_history, exec_scratch, LONG, LONG_EXPECTED)
    applied = [e.data.get("kind") for e in exec_history.select("fault") if e.data.get("action") == "apply"]
    assert applied == [exec_fault.kind]


@pytest.mark.exec_mode("event-stream")
@pytest.mark.fault("disconnect", mode="timeout", after_ms=100, hold_ms=400)
async def test_disconnect_timeout_is_reported_or_recovered(
    exec_client: ExecClient, exec_history: ExecHistory, exec_scratch: Path
) -> None:
    handle = await exec_client.start(["/bin/sh", "-c", SCRIPT], cwd=exec_scratch)
    exec_history.expect_output(handle.process_id, stdout=EXPECTED)
    # a typed failure is acceptable; silent truncation or a hang is not (checked by the plugin)
    with contextlib.suppress(TransportError):
        await handle.wait(20)
