"""Marker faults count ``at_ms`` from the test body's start, not from the fixtures' (issue 15, finding 6).

The flaky ``test_faults_live.py::test_chaos[legacy-read]`` had this root: the schedule's clock started
when ``exec_proxy`` was set up, so on a busy machine (slow fixtures) an early cut of a seeded schedule
landed in the client's websocket handshake inside the ``exec_client`` fixture, which is not retried, and
the test errored in setup. Which operation a fault hit depended on machine load. ``slow_setup`` stands in
for that load here (it is the condition under test, not a wait for something).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_execserver.checks.invariants import ExecHistory
from pytest_execserver.client import ExecClient, StartOutcomeUnknown
from pytest_execserver.faults.kinds import Fault
from pytest_execserver.glue.fixtures import ExecProxy
from pytest_execserver.waiting import wait_until, wait_until_sync

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def slow_setup(exec_proxy: ExecProxy) -> Iterator[None]:
    """Fixtures that take a while after the proxy was set up (as on a loaded machine)."""
    time.sleep(0.4)
    yield


def applied(history: ExecHistory) -> list[int]:
    return [e.time_ns for e in history.select("fault") if e.data.get("action") == "apply"]


@pytest.mark.fault_schedule(Fault("latency", ms=1, at_ms=100, duration_ms=50))
def test_timed_fault_counts_from_the_body(slow_setup: None, exec_history: ExecHistory) -> None:
    body = time.monotonic_ns()
    wait_until_sync(lambda: applied(exec_history), 5, "the scheduled fault to be applied")
    assert (applied(exec_history)[0] - body) / 1e6 >= 90  # before: ~300 ms *before* the body started


@pytest.fixture
def slow_client(slow_setup: None, exec_client: ExecClient) -> ExecClient:
    return exec_client


@pytest.mark.exec_mode("both")
@pytest.mark.fault_schedule(Fault("disconnect", at_ms=1, mode="reset"))
async def test_early_cut_hits_the_body_not_the_handshake(slow_client: ExecClient, exec_history: ExecHistory,
                                                         exec_scratch: Path) -> None:
    # before: the cut landed in exec_client's handshake and the test errored in setup. Now it lands here,
    # on the first traffic (a start in flight may end in the typed StartOutcomeUnknown, never re-sent)
    # output for ~200 ms, so the reset (which acts on the next bytes to the client) has traffic to cut even
    # when the first bytes beat the toxic (a quiet machine ran a single echo before the toxic was in place)
    paced = "for i in 1 2 3 4 5 6 7 8 9 10; do echo during-the-cut-$i; sleep 0.02; done"
    with contextlib.suppress(StartOutcomeUnknown):
        await slow_client.run(["/bin/sh", "-c", paced], cwd=exec_scratch)
    await wait_until(lambda: [e for e in exec_history.select("reconnect") if e.kind == "ok"], 10,
                     "the client to see the cut and reconnect")
    result = await slow_client.run(["/bin/echo", "after the cut"], cwd=exec_scratch)
    assert result.stdout == b"after the cut\n"
