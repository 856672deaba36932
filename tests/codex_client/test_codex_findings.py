"""Findings in the Codex CLI's exec client, each a strict xfail naming the codex version (flips when fixed)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from pytest_execserver.checks.journal import Journal
from pytest_execserver.glue.fixtures import ExecProxy
from pytest_execserver.servers.codex import DEFAULT_VERSION
from pytest_execserver.subjects.codex import CodexSubject
from pytest_execserver.waiting import wait_until
from tests.codex_client.codex_kit import check_delivery, find_process, paced_argv, request_in, run_in_background

pytestmark = pytest.mark.codex

LOST_START_RESPONSE = (
    f"codex {DEFAULT_VERSION}: when the connection drops after the server started a process but before its "
    "process/start response arrived, codex resumes the session yet tells the model 'exec_command failed: "
    "CreateProcess ... Failed to create unified exec process: exec-server transport disconnected'. The "
    "process did start and runs to completion on the server; its output is never read (the model is "
    "told it never ran, so an agent may run a non-idempotent command twice)"
)


@pytest.mark.xfail(strict=True, reason=LOST_START_RESPONSE)
async def test_lost_start_response_still_delivers_the_started_process(
    codex_subject: CodexSubject, exec_scratch: Path, exec_proxy: ExecProxy, journal_path: Path
) -> None:
    argv = paced_argv(10, 0.05, exit_code=2)
    codex_subject.model.gate = asyncio.Event()  # hold the tool call until the downstream is muted
    task, since = await run_in_background(codex_subject, request_in(exec_scratch, argv))
    await wait_until(lambda: any(r.t >= since for r in codex_subject.model.requests), 20, "codex's first model request")
    # Mute the downstream (Toxiproxy ``timeout`` with timeout 0: data dropped, connection kept) so the
    # process/start response is lost, then cut the connection once the server has started the process.
    exec_proxy.control.add_toxic(exec_proxy.name, "timeout", {"timeout": 0}, stream="downstream", name="mute")
    codex_subject.model.gate.set()
    await wait_until(lambda: find_process(Journal.load(journal_path), argv, since) is not None, 20,
                     "the server starting the process")
    exec_proxy.control.remove_toxic(exec_proxy.name, "mute")
    exec_proxy.disconnect(mode="reset")
    outcome = await task
    proc = find_process(Journal.load(journal_path), argv, since)
    assert proc is not None
    await wait_until(lambda: find_process(Journal.load(journal_path), argv, since).exited,  # type: ignore[union-attr]
                     10, "the started process to exit on the server")
    check_delivery(codex_subject, journal_path, argv, outcome, since)
