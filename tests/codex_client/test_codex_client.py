"""The Codex CLI's exec client (codex 0.171.0) under network faults, checked against the server's journal.

Each test runs one ``codex exec`` whose scripted model asks for one command on the reference server through
the proxy; the delivered text (what codex told the model) must equal every byte the process emitted, in
seq order, with its exit code. Faults are timed from the journal (the command is mid-stream), not by sleeps.
"""

from __future__ import annotations

import asyncio
import shlex
import time
from pathlib import Path

import pytest

from pytest_execserver.checks.journal import Journal
from pytest_execserver.glue.fixtures import ExecProxy
from pytest_execserver.servers.codex import CodexUnavailable
from pytest_execserver.servers.launch import ServerProcess
from pytest_execserver.subjects.codex import CodexHang, CodexSubject
from tests.codex_client.codex_kit import (
    check_delivery,
    find_process,
    merged,
    paced_argv,
    paced_output,
    request_in,
    run_in_background,
    wait_for_output,
)

pytestmark = pytest.mark.codex

BURST = ["/bin/sh", "-c", "seq 1 400; echo to-stderr >&2; seq 401 600; exit 3"]


async def test_no_fault_run_delivers_byte_exact_output(codex_subject: CodexSubject, exec_scratch: Path,
                                                       journal_path: Path) -> None:
    since = time.monotonic()
    outcome = await codex_subject.run(request_in(exec_scratch, BURST))
    delivery = check_delivery(codex_subject, journal_path, BURST, outcome, since)
    assert delivery.process.stderr == b"to-stderr\n" and outcome.exit_code == 3
    startup = codex_subject.runs[-1].startup_s
    assert startup is not None and startup > 0


async def test_reset_mid_command_recovers_by_resume_and_read(codex_subject: CodexSubject, exec_scratch: Path,
                                                             exec_proxy: ExecProxy, journal_path: Path) -> None:
    argv = paced_argv(20, 0.1)
    task, since = await run_in_background(codex_subject, request_in(exec_scratch, argv))
    await wait_for_output(journal_path, argv, since, chunks=3)
    exec_proxy.disconnect(mode="reset")
    outcome = await task
    check_delivery(codex_subject, journal_path, argv, outcome, since)
    assert outcome.stdout == paced_output(20)
    journal = Journal.load(journal_path)
    assert any(s.resumed for s in journal.sessions() if s.t >= since * 1e9), "codex did not resume its session"
    reads = [f for f in journal.frames(dir="in", method="process/read") if f["t"] >= since * 1e9]
    assert reads, "codex did not process/read what it missed"
    starts = [f for f in journal.frames(dir="in", method="process/start") if f["t"] >= since * 1e9]
    assert len(starts) == 1, f"codex re-sent process/start: {[shlex.join(f['params']['argv']) for f in starts]}"


RECOVERY_WINDOW_S = 45.0  # codex 0.171.0 gives up resuming its exec-server session after this long


@pytest.mark.slow
async def test_down_longer_than_recovery_window_ends_in_reported_failure(
    codex_subject: CodexSubject, exec_scratch: Path, exec_proxy: ExecProxy, journal_path: Path
) -> None:
    """The proxy goes down mid-command and stays down: codex must tell the model, not hang.

    Recorded (codex 0.171.0): after 30 s the model is told "Process running with session ID N" with the
    output so far; 45 s after the cut, the next ``write_stdin`` gets "write_stdin failed: Unified exec
    process failed: exec-server transport disconnected: ... failed to resume exec-server session: recovery
    timed out after 45s".
    """
    argv = paced_argv(100, 0.1)
    task, since = await run_in_background(codex_subject, request_in(exec_scratch, argv, timeout_ms=90_000))
    await wait_for_output(journal_path, argv, since, chunks=3)
    cut = time.monotonic()
    with exec_proxy.down():
        outcome = await task
    took = time.monotonic() - cut
    told = codex_subject.runs[-1].told_model
    assert outcome.error is not None, f"codex reported success through a {took:.0f} s outage: {told}"
    assert "recovery timed out" in outcome.error.message, f"codex's account names no transport failure: {told}"
    assert RECOVERY_WINDOW_S * 0.9 <= took <= RECOVERY_WINDOW_S + 15, f"failure reported after {took:.1f} s"
    proc = find_process(Journal.load(journal_path), argv, since)
    assert proc is not None
    assert merged(proc).startswith(outcome.stdout), "what codex delivered before failing is not a prefix"


async def test_stdin_through_a_terminal_is_delivered(codex_subject: CodexSubject, exec_scratch: Path,
                                                     journal_path: Path) -> None:
    """codex writes stdin only to a tty process: the pty bytes (echo included) must reach the model whole."""
    argv = ["/bin/cat"]
    since = time.monotonic()
    outcome = await codex_subject.run(request_in(exec_scratch, argv, stdin=b"one\ntwo\n"))
    delivery = check_delivery(codex_subject, journal_path, argv, outcome, since)
    assert delivery.process.tty and delivery.process.pty.count(b"one") == 2  # the echo and cat's copy


async def test_signal_exit_code_matches_the_server(codex_subject: CodexSubject, exec_scratch: Path,
                                                   journal_path: Path) -> None:
    argv = ["/bin/sh", "-c", "echo bye; kill -TERM $$"]
    since = time.monotonic()
    outcome = await codex_subject.run(request_in(exec_scratch, argv))
    check_delivery(codex_subject, journal_path, argv, outcome, since)


async def test_phases_exclude_codex_start_up(codex_subject: CodexSubject, exec_scratch: Path,
                                             journal_path: Path) -> None:
    """The tool call splits into dispatch, exec and report (journal times); start-up lies before all three."""
    since = time.monotonic()
    outcome = await codex_subject.run(request_in(exec_scratch, BURST))
    delivery = check_delivery(codex_subject, journal_path, BURST, outcome, since)
    run = codex_subject.runs[-1]
    journal = Journal.load(journal_path)
    pid = delivery.process.process_id
    start_in = next(f["t"] for f in journal.frames(dir="in", method="process/start")
                    if f["params"].get("processId") == pid) / 1e9
    last_out = max(f["t"] for f in journal.frames(dir="out") if f.get("process") == pid) / 1e9
    answered = run.requests[0].answered
    assert answered is not None and run.startup_s is not None
    phases = {"startup": run.startup_s, "dispatch": start_in - answered, "exec": last_out - start_in,
              "report": run.requests[1].t - last_out}
    print("codex phases (s):", {k: round(v, 4) for k, v in phases.items()})
    assert all(v >= 0 for v in phases.values()), f"phases out of order (clocks disagree?): {phases}"
    assert run.spawned_at + run.startup_s <= answered, "start-up overlaps the tool call"
    assert phases["dispatch"] < 2.0 and phases["report"] < 2.0, f"codex's own phases over budget: {phases}"


async def test_a_silent_codex_is_a_hang_and_is_killed(exec_proxy: ExecProxy, exec_server: ServerProcess,
                                                      exec_scratch: Path, tmp_path: Path) -> None:
    """The model never answers: codex waits, so the subject reports a hang at its deadline and kills codex."""
    subject = CodexSubject(exec_proxy.url, tmp_path / "silent", confinement=exec_server.confinement,
                           start_margin_s=2.0)
    try:
        await subject.start()
    except CodexUnavailable as exc:
        pytest.skip(f"codex unavailable: {exc}")
    subject.model.gate = asyncio.Event()  # never set
    try:
        began = time.monotonic()
        with pytest.raises(CodexHang, match=r"did not finish within 2\.5 s") as caught:
            await subject.run(request_in(exec_scratch, ["/bin/true"], timeout_ms=500))
        assert caught.value.deadline_s == pytest.approx(2.5)
        assert time.monotonic() - began < 10
        assert subject.proc is None, "codex still running after the hang was reported"
    finally:
        subject.model.gate.set()
        await subject.close()
