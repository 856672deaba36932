"""Protocol faults placed by messages, not the clock (issue 20): any client must survive or report them.

Each case arms one fault of the protocol proxy (between Toxiproxy and the server) by a marker, so it
lands on the same message on every run: the lost ``process/start`` response, a ``1012`` close on the
third output, a connection blackholed on the second output, duplicated and reordered output, and the
server killed and restarted right after a start, and again mid-stream, where the client must say the
session is lost as soon as the restarted server refuses to resume it (``session_lost_reported``), not when
its recovery window runs out. Output counts whether it is pushed (``process/output``)
or polled (the ``process/read`` response). The journal checks after each test add: one
``process/start`` per run (an unknown outcome never runs twice), output byte-exact or an exact prefix,
and an answer within the run's deadline.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from pytest_execserver.checks.history import History
from pytest_execserver.faults.kinds import Fault
from pytest_execserver.glue.fixtures import ExecProxy
from pytest_execserver.subjects.base import Outcome
from pytest_execserver.subjects.journal_free import restart_ends
from pytest_execserver.subjects.run import RecordingSubject
from pytest_execserver.suites.chaos.findings import PROTOCOL_FINDINGS, xfail_if_found
from pytest_execserver.suites.chaos.kit import (
    check,
    check_prefix,
    paced_workload,
    run_checked,
    run_workload,
    seq_workload,
)

pytestmark = [pytest.mark.asyncio, pytest.mark.usefixtures("plaintext_hop")]

OUTPUT = "process/output|process/read:response"  # output pushed, or polled
STREAM = paced_workload(24, per_batch=100, sleep_s=0.025)  # ~0.6 s of output in many messages
DEADLINE_MS = 5000  # the run's timeout_ms where a correct client may have to give up
MARGIN_S = 5.0  # the harness's margin over a deadline (as in reported_in_time)


def fired(proxy: ExecProxy, kind: str) -> list[Any]:
    """The firings of ``kind`` in this test; the fault must have fired (else the case tested nothing)."""
    assert proxy.protocol is not None
    events = [e for e in proxy.protocol.fired if e.kind == kind and e.phase == "fire"]
    assert events, f"the {kind!r} fault never fired (its trigger matched no message)"
    assert not proxy.injector.errors, f"fault errors: {proxy.injector.errors}"
    return events


def noticed_ms(subject: RecordingSubject, fired_ns: int) -> float | None:
    """How long after ``fired_ns`` the client opened a new connection (it noticed the old one was dead)."""
    opens = [r["t"] for r in subject.journal_records() if r.get("kind") == "conn_open" and r["t"] > fired_ns]
    return None if not opens else (min(opens) - fired_ns) / 1e6


def completed_or_reported(outcome: Outcome, workload: Any, subject: RecordingSubject) -> None:
    """Byte-exact success, or a typed error with an exact prefix delivered: never silent loss."""
    if outcome.error is None:
        check(outcome, workload, subject)
    else:
        assert outcome.error.message, "the client's error has no message"
        check_prefix(outcome, workload, subject)


@pytest.mark.fault("drop", on="process/start:response")
async def test_lost_start_response_runs_once(exec_subject: RecordingSubject, exec_proxy: ExecProxy,
                                             request: pytest.FixtureRequest) -> None:
    """The start's outcome is unknown to the client: it may find out (read back) or report it, but the
    journal must show the process started once (``started_once``)."""
    xfail_if_found(request, PROTOCOL_FINDINGS["lost_start_response"])
    workload = seq_workload(2000)
    began = time.monotonic()
    outcome = await run_workload(exec_subject, workload, timeout_ms=DEADLINE_MS)
    fired(exec_proxy, "drop")
    completed_or_reported(outcome, workload, exec_subject)
    assert time.monotonic() - began < DEADLINE_MS / 1000 + MARGIN_S
    await run_checked(exec_subject, seq_workload(500))  # and the client is still usable


@pytest.mark.fault("close", code=1012, on=OUTPUT, nth=3)
async def test_close_1012_on_third_output(exec_subject: RecordingSubject, exec_proxy: ExecProxy,
                                          request: pytest.FixtureRequest) -> None:
    """The server says it is restarting (1012) mid-stream, but it is not: reconnect, resume, deliver all."""
    xfail_if_found(request, PROTOCOL_FINDINGS["close_1012"])
    await run_checked(exec_subject, STREAM, timeout_ms=20_000)
    fired(exec_proxy, "close")


@pytest.mark.fault("blackhole", on=OUTPUT, nth=2)
async def test_blackhole_on_second_output(exec_subject: RecordingSubject, exec_proxy: ExecProxy,
                                          request: pytest.FixtureRequest) -> None:
    """The connection dies silently (no FIN, no RST) until the test ends; new connections pass, but the
    server still holds the session on the dead one. The client must answer within its deadline: all the
    bytes, or an error with an exact prefix. Liveness: its detection time (first new connection) is reported."""
    xfail_if_found(request, PROTOCOL_FINDINGS["blackhole"])
    began = time.monotonic()
    outcome = await run_workload(exec_subject, STREAM, timeout_ms=DEADLINE_MS)
    elapsed = time.monotonic() - began
    (event,) = fired(exec_proxy, "blackhole")
    detected = noticed_ms(exec_subject, event.t_ns)
    request.node.user_properties.append(("blackhole_detection_ms", detected))
    print(f"blackhole on the 2nd output: first new connection {detected} ms after it; answered after "
          f"{elapsed:.2f} s ({'ok' if outcome.error is None else outcome.error.type})")
    completed_or_reported(outcome, STREAM, exec_subject)
    assert elapsed < DEADLINE_MS / 1000 + MARGIN_S, f"answered after {elapsed:.1f} s (deadline {DEADLINE_MS} ms)"


@pytest.mark.chaos(Fault("duplicate", on=OUTPUT), Fault("reorder", on=OUTPUT, hold=2))
async def test_duplicate_and_reorder_output(exec_subject: RecordingSubject, exec_proxy: ExecProxy,
                                            exec_fault: Fault, request: pytest.FixtureRequest) -> None:
    """A message delivered twice, or overtaken by the next two: output is still delivered once, in order."""
    xfail_if_found(request, PROTOCOL_FINDINGS[exec_fault.kind])
    outcome = await run_workload(exec_subject, STREAM, timeout_ms=DEADLINE_MS)
    fired(exec_proxy, exec_fault.kind)
    check(outcome, STREAM, exec_subject)


@pytest.mark.fault("server_restart", on="process/start:response")
async def test_server_restart_after_start(exec_subject: RecordingSubject, exec_proxy: ExecProxy,
                                          request: pytest.FixtureRequest) -> None:
    """The server is killed as it answers the start and comes back on the same address without the session:
    the client must report the loss (an error, an exact prefix) within its deadline, and not start the
    process again on its own (``started_once``)."""
    xfail_if_found(request, PROTOCOL_FINDINGS["server_restart"])
    workload = paced_workload(8, per_batch=50, sleep_s=0.05)
    began = time.monotonic()
    outcome = await run_workload(exec_subject, workload, timeout_ms=DEADLINE_MS)
    elapsed = time.monotonic() - began
    fired(exec_proxy, "server_restart")
    assert outcome.error is not None, "the client reported success for a process whose server died mid-run"
    completed_or_reported(outcome, workload, exec_subject)
    assert elapsed < DEADLINE_MS / 1000 + MARGIN_S, f"answered after {elapsed:.1f} s (deadline {DEADLINE_MS} ms)"
    await run_checked(exec_subject, seq_workload(300))  # a fresh session on the restarted server works


WINDOW_MS = 10_000  # the run's timeout_ms: a client retrying a refused resume gives up only here
SESSION_LOST_S = 3.0  # the bound on reporting a lost session, from the first resume the restarted server saw


@pytest.mark.fault("server_restart", on=OUTPUT, nth=2)
async def test_server_restart_is_reported_as_session_lost(exec_subject: RecordingSubject, exec_proxy: ExecProxy,
                                                          exec_history: History,
                                                          request: pytest.FixtureRequest) -> None:
    """The server dies mid-stream and comes back without the session. Its refusal to resume is terminal: the
    client must report a lost session (an error that says so) within ``SESSION_LOST_S`` of it, while its
    recovery window (the run's ``timeout_ms``) is three times longer; then a new session works."""
    xfail_if_found(request, PROTOCOL_FINDINGS["session_lost"])
    exec_subject.expect_session_lost(within_s=SESSION_LOST_S)
    workload = paced_workload(40, per_batch=50, sleep_s=0.05)  # ~2 s: still running when the server dies
    outcome = await run_workload(exec_subject, workload, timeout_ms=WINDOW_MS)
    fired(exec_proxy, "server_restart")
    assert outcome.error is not None, "the client reported success for a process whose server died mid-run"
    if exec_subject.journal_free:  # the check times it from the restarted server being back (journal_free.py)
        back = restart_ends(exec_history)
        assert back, "the history has no end of the server restart"
        reported_s = (exec_subject.state.runs[-1].end_ns - back[0]) / 1e9
        since = "the restarted server was back (journal-free)"
    else:
        records = exec_subject.journal_records()
        restart = next(r["t"] for r in records if r.get("kind") == "server_restart")
        resumes = [r["t"] for r in records if r["t"] > restart and r.get("kind") == "frame"
                   and r.get("dir") == "in" and r.get("method") == "initialize"
                   and (r.get("params") or {}).get("resumeSessionId")]
        reported_s = (exec_subject.state.runs[-1].end_ns - (resumes[0] if resumes else restart)) / 1e9
        since = f"the first resume the restarted server saw ({len(resumes)} resume attempts)"
    request.node.user_properties.append(("session_lost_reported_s", reported_s))
    print(f"server restart mid-stream: reported {reported_s:.2f} s after {since}: "
          f"{outcome.error.type}: {outcome.error.message[:600]}")
    check_prefix(outcome, workload, exec_subject)
    await run_checked(exec_subject, seq_workload(300))
