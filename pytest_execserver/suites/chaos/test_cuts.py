"""Connection cuts and outages: the client reconnects, resumes its session, reads back, and delivers every
byte once -- or, when the server stays unreachable, reports an error within the run's deadline.

A TCP reset is placed by a protocol event: the protocol proxy's ``cut`` right after the run's ``CUT_AT``-th
output message (pushed or polled), so it lands on the same message on every run. A FIN (Toxiproxy's
``close``), a silence that also holds new connections (``timeout``) and outages (``down``) have no protocol
kind: they are applied once the server journaled some of the run's output (:func:`streaming`).

The journal checks after each test prove how: one ``process/start`` per run, the session resumed (never a
new one while a process runs), output byte-exact; a hang is a violation naming its deadline. Journal-free
(a server without the reference journal), the process starts are counted by a marker file and the output is
compared with the workload's bytes; whether the session was resumed is not known (the report says so).
"""

from __future__ import annotations

import time
from typing import Any

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
    readable_hop,
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
RESUMED_JOURNAL_ONLY = ("whether the new connection resumed the session is only in the server's journal; "
                        "journal-free, the output is byte-exact and the process started once (its marker)")


def landed_journal_free(subject: RecordingSubject) -> None:
    """Without the server's journal: the cut landed if the relay saw the client open a second websocket
    (codex's executor behind the relay); otherwise that is not known either, and the report says so."""
    seen = subject.client_connections()
    if seen is None:
        subject.unchecked("cut_landed", "the connections the server accepted are only in its journal")
    else:
        assert seen >= 2, f"the cut did not land: the relay saw {seen} client websocket(s)"
    subject.unchecked("session_resumed", RESUMED_JOURNAL_ONLY)


OUTPUT = "process/output|process/read:response"  # output pushed, or polled
CUT_AT = 6  # the output message the reset follows: early in STREAM's ~40-80 messages, for every client
RESET = pytest.mark.fault("cut", on=OUTPUT, nth=CUT_AT)


async def cut_mid_stream(subject: RecordingSubject, proxy: ExecProxy, mode: str, readable: bool) -> Outcome:
    """Run STREAM with a cut in the middle: ``reset`` by the armed protocol ``cut``, else (and where the hop
    carries no JSON-RPC to place it on: ``readable`` false, see ``kit.NOISE_HOP``) by Toxiproxy."""
    if mode == "reset" and readable:
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
async def test_cut_mid_stream_recovers(exec_subject: RecordingSubject, exec_proxy: ExecProxy, exec_server: Any,
                                       mode: str) -> None:
    check(await cut_mid_stream(exec_subject, exec_proxy, mode, readable_hop(exec_server)), STREAM, exec_subject)
    assert not exec_proxy.injector.errors, f"fault errors: {exec_proxy.injector.errors}"
    if exec_subject.journal_free:
        landed_journal_free(exec_subject)
    else:
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
    if exec_subject.journal_free:
        landed_journal_free(exec_subject)
    else:
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
async def test_binary_stdin_after_a_cut(exec_subject: RecordingSubject, exec_proxy: ExecProxy, exec_server: Any,
                                        request: pytest.FixtureRequest) -> None:
    """Binary stdin (every byte value) is written exactly once, also on a session resumed after a cut."""
    xfail_if_found(request, BINARY_STDIN)
    check(await cut_mid_stream(exec_subject, exec_proxy, "reset", readable_hop(exec_server)), STREAM, exec_subject)
    await run_checked(exec_subject, stdin_workload(4096, seed=5))
    await run_checked(exec_subject, stdin_workload(4096, seed=6))
