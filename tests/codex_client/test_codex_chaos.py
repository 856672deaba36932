"""The chaos matrix on codex's exec client (codex 0.171.0): each network fault, output checked against the journal.

Faults that shape traffic (latency, jitter, bandwidth, slicer) are on for the whole run; cuts (each
disconnect form, a short ``down``, receiver lag) land mid-command: once the journal shows the process has
emitted output. Every run must deliver exactly what the process emitted, with its exit code.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from pytest_execserver.checks.journal import Journal
from pytest_execserver.glue.fixtures import ExecProxy
from pytest_execserver.subjects.codex import CodexSubject
from tests.codex_client.codex_kit import (
    check_delivery,
    paced_argv,
    receiver_lag,
    request_in,
    run_in_background,
    wait_for_output,
)

pytestmark = pytest.mark.codex

BURST = ["/bin/sh", "-c", "seq 1 2000; echo to-stderr >&2; seq 2001 3000; exit 3"]  # 13,893 bytes


@pytest.mark.parametrize(("kind", "params"), [
    pytest.param("latency", {"ms": 20}, id="latency-20ms"),
    pytest.param("latency", {"ms": 40, "jitter": 30}, id="jitter-40ms-30ms"),
    pytest.param("bandwidth", {"kbps": 256}, id="bandwidth-256kbps"),
    pytest.param("slicer", {"average_size": 16, "size_variation": 8, "delay_us": 100}, id="slicer-16B"),
])
async def test_shaped_traffic_delivers_byte_exact(codex_subject: CodexSubject, exec_scratch: Path,
                                                  exec_proxy: ExecProxy, journal_path: Path, kind: str,
                                                  params: dict[str, Any]) -> None:
    exec_proxy.apply(kind, **params)
    since = time.monotonic()
    outcome = await codex_subject.run(request_in(exec_scratch, BURST))
    check_delivery(codex_subject, journal_path, BURST, outcome, since)


@pytest.mark.parametrize(("mode", "cut"), [
    pytest.param("reset", {}, id="reset"),
    pytest.param("close", {}, id="close"),
    pytest.param("timeout", {"hold_ms": 1500}, id="timeout"),
])
async def test_disconnect_mid_command_recovers(codex_subject: CodexSubject, exec_scratch: Path,
                                               exec_proxy: ExecProxy, journal_path: Path, mode: str,
                                               cut: dict[str, Any]) -> None:
    argv = paced_argv(30, 0.05, exit_code=4)
    task, since = await run_in_background(codex_subject, request_in(exec_scratch, argv))
    await wait_for_output(journal_path, argv, since, chunks=3)
    exec_proxy.disconnect(mode=mode, **cut)
    outcome = await task
    check_delivery(codex_subject, journal_path, argv, outcome, since)
    journal = Journal.load(journal_path)
    assert any(s.resumed for s in journal.sessions() if s.t >= since * 1e9), "codex did not resume its session"


async def test_short_down_recovers(codex_subject: CodexSubject, exec_scratch: Path, exec_proxy: ExecProxy,
                                   journal_path: Path) -> None:
    argv = paced_argv(30, 0.05)
    task, since = await run_in_background(codex_subject, request_in(exec_scratch, argv))
    await wait_for_output(journal_path, argv, since, chunks=3)
    exec_proxy.apply("down", duration_ms=2000)
    outcome = await task
    check_delivery(codex_subject, journal_path, argv, outcome, since)
    refused = time.monotonic() - since
    assert refused >= 2.0, "the outage did not happen"


async def test_receiver_lag_holds_bytes_and_delivers_them_all(codex_subject: CodexSubject, exec_scratch: Path,
                                                              exec_proxy: ExecProxy, journal_path: Path) -> None:
    """Downstream stalled 1.5 s with the bytes held while a 589 kB burst is sent; codex gets every byte.

    The burst waits for a file the test creates once the stall is in place, so it always comes during the
    stall. (It used to follow a fixed sleep, and on a loaded machine the test sometimes saw the first line
    in the journal only after the burst and the exit had already reached codex: "codex learned the exit
    during the stall", twice under ``./run soak``.)"""
    gate = exec_scratch / "release-the-burst"
    argv = ["/bin/sh", "-c", f"echo start; until [ -e {gate.name} ]; do sleep 0.02; done; seq 1 100000; exit 5"]
    stall_ms = 1500
    task, since = await run_in_background(codex_subject, request_in(exec_scratch, argv))
    await wait_for_output(journal_path, argv, since, chunks=1)
    stalled_at = time.monotonic()
    receiver_lag(exec_proxy, stall_ms)
    gate.touch()
    outcome = await task
    delivery = check_delivery(codex_subject, journal_path, argv, outcome, since)
    assert delivery.process.exited
    exited_at = next(r["t"] for r in Journal.load(journal_path).of_kind("proc_exited")
                     if r["process"] == delivery.process.process_id) / 1e9
    told_at = codex_subject.model.requests[-1].t
    timeline = (f"after the stall began: process exited at {exited_at - stalled_at:+.3f} s, codex's last model "
                f"request at {told_at - stalled_at:+.3f} s")
    assert exited_at > stalled_at, f"the burst came before the stall: {timeline}"
    assert exited_at < stalled_at + stall_ms / 1000, f"the process outlived the stall, nothing was held: {timeline}"
    assert told_at >= stalled_at + stall_ms / 1000 * 0.9, f"codex learned the exit during the stall: {timeline}"
