"""Checks for the codex client: what codex told the model against what the reference server's journal says.

codex merges a process's streams into one text, so the expected bytes are every chunk of the process in
seq order (stdout, stderr and pty together), from the journal (docs/journal.md).
"""

from __future__ import annotations

import asyncio
import shlex
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pytest_execserver.checks.journal import Journal, JournalProcess
from pytest_execserver.glue.fixtures import ExecProxy
from pytest_execserver.subjects.base import Outcome, RunRequest
from pytest_execserver.subjects.codex import CodexSubject, codex_view
from pytest_execserver.subjects.scripted_model import OUTPUT_LIMIT_BYTES
from pytest_execserver.waiting import wait_until

HOLD_MS = 3_600_000  # a latency no test outlives: while the toxic is on, the downstream is held


def paced_argv(lines: int, sleep_s: float, exit_code: int = 0, tag: str = "line") -> list[str]:
    """A shell loop printing ``tag-i`` ``lines`` times, ``sleep_s`` apart, then exiting with ``exit_code``."""
    script = (f"i=1; while [ $i -le {lines} ]; do echo {tag}-$i; i=$((i+1)); sleep {sleep_s}; done; "
              f"exit {exit_code}")
    return ["/bin/sh", "-c", script]


def paced_output(lines: int, tag: str = "line") -> bytes:
    return "".join(f"{tag}-{i}\n" for i in range(1, lines + 1)).encode()


def request_in(scratch: Path, argv: Sequence[str], timeout_ms: int = 20_000, **kw: object) -> RunRequest:
    return RunRequest(argv=list(argv), cwd=scratch.as_uri(), timeout_ms=timeout_ms, **kw)  # type: ignore[arg-type]


def merged(proc: JournalProcess) -> bytes:
    """Every byte the process emitted, all streams, in seq order: what codex should deliver."""
    return b"".join(c.data for c in sorted(proc.chunks, key=lambda c: c.seq))


def find_process(journal: Journal, argv: Sequence[str], since_s: float) -> JournalProcess | None:
    """The process codex started for ``argv`` (its ``bash -c`` command line contains it) after ``since_s``."""
    cmd = shlex.join(argv)
    starts = {(r["session"], r["process"]): r["t"] for r in journal.of_kind("proc_start")}
    found = [p for p in journal.processes()
             if any(cmd in arg for arg in p.argv) and starts[(p.session, p.process_id)] >= since_s * 1e9]
    return found[-1] if found else None


@dataclass
class Delivery:
    """A checked codex run: the outcome, the journal's process and the expected bytes."""

    outcome: Outcome
    process: JournalProcess
    expected: bytes


def _first_difference(actual: bytes, expected: bytes, proc: JournalProcess) -> str:
    at = next((i for i, (a, b) in enumerate(zip(actual, expected, strict=False)) if a != b),
              min(len(actual), len(expected)))
    offset, seq = 0, None
    for chunk in sorted(proc.chunks, key=lambda c: c.seq):
        if offset + len(chunk.data) > at:
            seq = chunk.seq
            break
        offset += len(chunk.data)
    return (f"codex delivered {len(actual)} bytes, the process emitted {len(expected)} "
            f"({len(proc.chunks)} chunks); first difference at byte {at} (journal chunk seq {seq}): "
            f"expected {expected[at:at + 40]!r}, got {actual[at:at + 40]!r}")


def check_delivery(subject: CodexSubject, journal_path: Path | None, argv: Sequence[str], outcome: Outcome,
                   since_s: float) -> Delivery:
    """Assert that codex told the model exactly what the process emitted (exit code and bytes)."""
    assert journal_path is not None, "the codex-client checks need the reference server's journal"
    journal = Journal.load(journal_path)
    proc = find_process(journal, argv, since_s)
    told = subject.runs[-1].told_model if subject.runs else []
    assert proc is not None, f"the server never started {shlex.join(argv)!r}; codex told the model {told!r}"
    expected = merged(proc)
    assert outcome.error is None, (f"codex reported a failure: {outcome.error.type}: {outcome.error.message}; "
                                   f"the process {'exited ' + str(proc.exit_code) if proc.exited else 'did not exit'}")
    if outcome.truncated:
        limit = subject.output_limit_bytes or OUTPUT_LIMIT_BYTES
        assert len(expected) > limit, f"codex said it truncated {len(expected)} bytes, under its {limit}-byte limit"
        return Delivery(outcome, proc, expected)
    text = codex_view([expected])  # codex hands the model text
    assert outcome.stdout == text, _first_difference(outcome.stdout, text, proc)
    assert proc.exited, "codex reported an exit the server never saw"
    assert outcome.exit_code == proc.exit_code, (
        f"codex reported exit code {outcome.exit_code}, the process exited with {proc.exit_code}")
    return Delivery(outcome, proc, expected)


async def wait_for_output(journal_path: Path | None, argv: Sequence[str], since_s: float, chunks: int,
                          timeout: float = 30.0) -> None:
    """Wait until the server journaled ``chunks`` chunks of ``argv``'s process (the command is mid-stream)."""
    assert journal_path is not None

    def ready() -> bool:
        proc = find_process(Journal.load(journal_path), argv, since_s)
        return proc is not None and len(proc.chunks) >= chunks

    await wait_until(ready, timeout, f"{chunks} output chunks of {argv[-1][:40]!r} in the journal", interval=0.02)


async def run_in_background(subject: CodexSubject, request: RunRequest) -> tuple[asyncio.Task[Outcome], float]:
    """Start ``subject.run(request)``; returns the task and the start time (``time.monotonic()``)."""
    since = time.monotonic()
    return asyncio.create_task(subject.run(request)), since


def receiver_lag(proxy: ExecProxy, stall_ms: float) -> None:
    """Stall the downstream (server -> client) for ``stall_ms`` with every byte held, then release it.

    Built from a toxic that the real Toxiproxy has: a ``latency`` of an hour on the downstream, removed after
    ``stall_ms``. Toxiproxy's latency toxic holds the chunk it is delaying and reads nothing behind it, so
    the server's sends queue up behind it (in Toxiproxy, then in the socket buffers); removing the toxic
    hands the held chunk on ("don't drop any data on the floor") and the rest follows in order. (A
    ``bandwidth`` of rate 0 would not do: in Toxiproxy rate 0 means unlimited; ``timeout`` drops data.)
    """
    proxy.latency(HOLD_MS, direction="downstream", duration_ms=stall_ms)
