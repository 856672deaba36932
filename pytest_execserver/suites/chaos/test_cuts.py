"""Connection cuts and outages: the client reconnects, resumes its session, reads back, and delivers every
byte once -- or, when the server stays unreachable, reports an error within the run's deadline.

A TCP reset is placed by a protocol event: the protocol proxy's ``cut`` right after the run's ``CUT_AT``-th
output message (pushed or polled), so it lands on the same message on every run. A FIN (Toxiproxy's
``close``), a silence that also holds new connections (``timeout``) and outages (``down``) have no protocol
kind: they are applied once the server journaled some of the run's output (:func:`streaming`).

The journal checks after each test prove how: one ``process/start`` per run, the session resumed (never a
new one while a process runs), output byte-exact; a hang is a violation naming its deadline.
"""

from __future__ import annotations

import time

import pytest

from pytest_execserver.glue.fixtures import ExecProxy
from pytest_execserver.subjects.base import Outcome
from pytest_execserver.subjects.run import RecordingSubject
from pytest_execserver.suites.chaos.findings import BINARY_STDIN, xfail_if_found
from pytest_execserver.suites.chaos.kit import (
    check,
    check_prefix,
    connections,
    fault_applied,
    paced_workload,
    resumed,
    run_checked,
    run_workload,
    seq_workload,
    stdin_workload,
    streaming,
    text_stdin_workload,
)

pytestmark = pytest.mark.asyncio

STREAM = paced_workload(40, per_batch=150, sleep_s=0.025)  # ~1 s, ~34 KB stdout, 40 stderr lines
OUTPUT = "process/output|process/read:response"  # output pushed, or polled
CUT_AT = 6  # the output message the reset follows: early in STREAM's ~40-80 messages, for every client
RESET = pytest.mark.fault("cut", on=OUTPUT, nth=CUT_AT)


async def cut_mid_stream(subject: RecordingSubject, proxy: ExecProxy, mode: str) -> Outcome:
    """Run STREAM with a cut in the middle: ``reset`` by the armed protocol ``cut``, else by Toxiproxy."""
    if mode == "reset":
        outcome = await run_workload(subject, STREAM)
        assert proxy.protocol is not None and any(e.kind == "cut" for e in proxy.protocol.fired), (
            f"the reset never fired: fewer than {CUT_AT} output messages passed")
        return outcome
    run = await streaming(subject, STREAM)
    proxy.disconnect(mode=mode)
    outcome = await run
    fault_applied(proxy, "disconnect")
    return outcome


@pytest.mark.parametrize("mode", [pytest.param("reset", marks=RESET), "close", "timeout"])
@pytest.mark.latency_budget("process", max=15000, min_samples=2)
async def test_cut_mid_stream_recovers(exec_subject: RecordingSubject, exec_proxy: ExecProxy, mode: str) -> None:
    check(await cut_mid_stream(exec_subject, exec_proxy, mode), STREAM, exec_subject)
    assert not exec_proxy.injector.errors, f"fault errors: {exec_proxy.injector.errors}"
    records = exec_subject.journal_records()
    assert connections(records) >= 2, "the cut did not land (one connection only)"
    assert resumed(records) >= 1, "the client never resumed its session after the cut"
    await run_checked(exec_subject, seq_workload(3000))  # the resumed session is fully usable
    await run_checked(exec_subject, text_stdin_workload(40, seed=5))  # and takes stdin (writes idempotent)


@pytest.mark.parametrize("down_ms", [300, 1500], ids=["300ms", "1500ms"])
@pytest.mark.latency_budget("process", max=15000, min_samples=2)
async def test_short_outage_recovers(exec_subject: RecordingSubject, exec_proxy: ExecProxy, down_ms: int) -> None:
    run = await streaming(exec_subject, STREAM)
    exec_proxy.apply("down", duration_ms=down_ms)  # connections dropped and refused, then let through again
    check(await run, STREAM, exec_subject)
    fault_applied(exec_proxy, "down")
    assert resumed(exec_subject.journal_records()) >= 1, "the client never resumed its session after the outage"
    await run_checked(exec_subject, seq_workload(3000))


DEADLINE_MS = 3000  # the run's timeout_ms during a permanent outage


async def test_long_outage_is_reported(exec_subject: RecordingSubject, exec_proxy: ExecProxy) -> None:
    """Down for longer than the run may take: the client must answer with an error (not hang, not succeed
    with missing bytes) within ``timeout_ms`` plus the harness's margin; what arrived is an exact prefix."""
    workload = paced_workload(120, per_batch=100, sleep_s=0.03)  # ~4 s: still running when the proxy dies
    run = await streaming(exec_subject, workload, timeout_ms=DEADLINE_MS)
    with exec_proxy.down():
        began = time.monotonic()
        outcome = await run  # a hang raises SubjectHang (and fails the reported_in_time check)
        elapsed = time.monotonic() - began
    assert outcome.error is not None, f"the client reported success ({outcome.exit_code}) through a permanent outage"
    assert outcome.error.message, "the client's error has no message"
    check_prefix(outcome, workload, exec_subject)
    assert elapsed < DEADLINE_MS / 1000 + 5, f"error after {elapsed:.1f}s"


@RESET
@pytest.mark.latency_budget("process", max=15000, min_samples=2)
async def test_binary_stdin_after_a_cut(exec_subject: RecordingSubject, exec_proxy: ExecProxy,
                                        request: pytest.FixtureRequest) -> None:
    """Binary stdin (every byte value) is written exactly once, also on a session resumed after a cut."""
    xfail_if_found(request, BINARY_STDIN)
    check(await cut_mid_stream(exec_subject, exec_proxy, "reset"), STREAM, exec_subject)
    await run_checked(exec_subject, stdin_workload(4096, seed=5))
    await run_checked(exec_subject, stdin_workload(4096, seed=6))
