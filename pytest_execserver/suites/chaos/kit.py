"""Workloads whose exact output is known in advance, and a run that checks it, for any client under test.

Every workload is a process with deterministic output (``seq``, a seeded binary blob written into the test's
scratch directory and ``cat``-ed back, or a paced shell loop). :func:`run_checked` asserts the Outcome
byte-exact; the plugin then checks the journal (what the process really emitted, how the client connected,
started and resumed) after the test.

Safety: the only paths sent to the server are inside the test's scratch directory; argv uses ``/bin/sh``,
``/bin/cat`` and ``seq`` only.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from typing import Any

from pytest_execserver.subjects.base import Outcome
from pytest_execserver.subjects.journal_free import interleaving_error
from pytest_execserver.subjects.run import RecordingSubject
from pytest_execserver.suites.chaos.compare import assert_bytes, assert_prefix
from pytest_execserver.suites.chaos.workloads import Workload as Workload
from pytest_execserver.suites.chaos.workloads import blob_workload as blob_workload
from pytest_execserver.suites.chaos.workloads import paced_workload as paced_workload
from pytest_execserver.suites.chaos.workloads import seq_lines as seq_lines
from pytest_execserver.suites.chaos.workloads import seq_workload as seq_workload
from pytest_execserver.waiting import wait_until


def stdin_workload(size: int, seed: int) -> Workload:
    """``head -c size``: echoes exactly ``size`` seeded bytes written to its stdin (so it ends without EOF)."""
    data = random.Random(seed).randbytes(size)
    return Workload(f"stdin{size}", ("head", "-c", str(size)), data, stdin=data)


def text_stdin_workload(lines: int, seed: int) -> Workload:
    """``head -c size``: echoes ``lines`` seeded lines of printable ASCII written to its stdin (text: what a
    client that writes stdin through a terminal, like codex, can deliver)."""
    rng = random.Random(seed)
    data = "".join("".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789 ") for _ in range(rng.randint(1, 80)))
                   + "\n" for _ in range(lines)).encode()
    return Workload(f"text-stdin{len(data)}", ("head", "-c", str(len(data))), data, stdin=data)


def check_prefix(outcome: Outcome, workload: Workload, subject: RecordingSubject | None = None) -> None:
    """What a failed run delivered is an exact prefix of what the client should deliver, per its view."""
    stdout, stderr = expected_output(outcome, workload, subject, whole=False)
    if subject is not None and subject.merged_streams and not subject.journal_free:
        chunks = subject.emitted(outcome) or []
        assert_prefix(b"".join(d for s, d in chunks if s != "stderr"), workload.stdout,
                      f"{workload.name} stdout the process emitted (journal)")
        assert_prefix(b"".join(d for s, d in chunks if s == "stderr"), workload.stderr,
                      f"{workload.name} stderr the process emitted (journal)")
    assert_prefix(outcome.stdout, stdout, f"{workload.name} stdout delivered before the failure")
    assert_prefix(outcome.stderr, stderr, f"{workload.name} stderr delivered before the failure")


async def run_workload(subject: RecordingSubject, workload: Workload, timeout_ms: int = 30_000) -> Outcome:
    """Write the workload's files into the scratch dir and run it (cwd = the scratch dir)."""
    for name, data in workload.files.items():
        (subject.scratch / name).write_bytes(data)
    return await subject.run_argv(list(workload.argv), stdin=workload.stdin, timeout_ms=timeout_ms)


async def run_checked(subject: RecordingSubject, workload: Workload, timeout_ms: int = 30_000) -> Outcome:
    """Run ``workload``; it must complete byte-exact with its exit code."""
    return check(await run_workload(subject, workload, timeout_ms), workload, subject)


def expected_output(outcome: Outcome, workload: Workload, subject: RecordingSubject | None, *,
                    whole: bool = True) -> tuple[bytes, bytes]:
    """What the client should deliver for ``workload`` as (stdout, stderr).

    A client keeping the streams apart: the workload's bytes. A client that merges them into one text
    (codex): the journal's chunks of the run's process through the client's view (only the journal knows
    how stdout and stderr interleaved), after checking the process emitted the workload's bytes.
    """
    if subject is None or not subject.merged_streams:
        return workload.stdout, workload.stderr
    if subject.journal_free:
        return journal_free_merged(outcome, workload, subject, whole=whole)
    chunks = subject.emitted(outcome)
    assert chunks is not None, f"{workload.name}: the server's journal shows no process for this run"
    if not whole:  # the process may still be running: what it emitted so far
        pass
    elif workload.stdin is None:
        out = b"".join(d for s, d in chunks if s in ("stdout", "pty"))
        assert_bytes(out, workload.stdout, f"{workload.name} stdout the process emitted (journal)")
        assert_bytes(b"".join(d for s, d in chunks if s == "stderr"), workload.stderr,
                     f"{workload.name} stderr the process emitted (journal)")
    else:
        # stdin through a terminal: the tty echoes the input and writes CRLF, interleaved with the output at
        # no fixed place; the process got every byte once iff the text holds the stdin bytes twice (echo +
        # output), whatever the order.
        text = b"".join(d for _, d in chunks).replace(b"\r\n", b"\n")
        assert sorted(text) == sorted(workload.stdin * 2), (
            f"{workload.name}: the terminal output (journal, {len(text)} bytes) is not the {len(workload.stdin)} "
            f"stdin bytes echoed and output once each: {text[:120]!r}")
    return subject.delivered_view(chunks)


def journal_free_merged(outcome: Outcome, workload: Workload, subject: RecordingSubject, *,
                        whole: bool = True) -> tuple[bytes, bytes]:
    """:func:`expected_output` for a client that merges the streams (codex) when the server keeps no journal:
    the workload's bytes are known, only how stdout and stderr interleaved is not, so the delivered text must
    be an order-keeping interleaving of them (``whole`` False: a prefix of one)."""
    if workload.stdin is not None:  # through a terminal: stdin echoed and output once each, in any order
        if whole:
            text = outcome.stdout.replace(b"\r\n", b"\n")
            assert sorted(text) == sorted(workload.stdin * 2), (
                f"{workload.name}: the terminal text delivered ({len(text)} bytes, journal-free) is not the "
                f"{len(workload.stdin)} stdin bytes echoed and output once each: {text[:120]!r}")
        return outcome.stdout, b""
    if not workload.stderr:
        return subject.delivered_view([("stdout", workload.stdout)])
    problem = interleaving_error(outcome.stdout, workload.stdout, workload.stderr, whole=whole)
    assert problem is None, (f"{workload.name}: the delivered text is not the workload's stdout and stderr "
                             f"interleaved{'' if whole else ' (a prefix)'} (journal-free check): {problem}")
    return outcome.stdout, b""


def check(outcome: Outcome, workload: Workload, subject: RecordingSubject | None = None) -> Outcome:
    """The run completed byte-exact with its exit code (``subject``: compare through its delivered view)."""
    assert outcome.error is None, f"{workload.name}: the client reported {outcome.error.type}: {outcome.error.message}"
    assert not outcome.truncated, (f"{workload.name}: the client truncated the output (it said so): "
                                   f"{len(outcome.stdout)} bytes delivered; keep outputs under its limit")
    stdout, stderr = expected_output(outcome, workload, subject)
    assert_bytes(outcome.stdout, stdout, f"{workload.name} stdout")
    assert_bytes(outcome.stderr, stderr, f"{workload.name} stderr")
    assert outcome.exit_code == workload.exit_code, f"{workload.name}: exit code {outcome.exit_code}"
    return outcome


async def streaming(subject: RecordingSubject, workload: Workload, timeout_ms: int = 30_000) -> asyncio.Task[Outcome]:
    """Start ``workload`` and return once the server journaled some of its output (journal-free: once its
    process started): a fault applied now lands mid-stream, however long the client took to start and
    connect. A client that hangs instead is reported as the hang it is (the run's own deadline comes first)."""
    before = sum(1 for r in subject.journal_records() if r.get("kind") == "proc_start")
    starts = subject.process_starts()
    task = asyncio.ensure_future(run_workload(subject, workload, timeout_ms))

    def flowing() -> bool:
        if task.done():
            return True
        if subject.journal_free:  # its process has started (marker): it streams from its first line
            return subject.process_starts() > starts
        records = subject.journal_records()
        started = [i for i, r in enumerate(records) if r.get("kind") == "proc_start"]
        if len(started) <= before:  # not this run's process yet (an earlier run's output does not count)
            return False
        return sum(1 for r in records[started[-1]:] if r.get("kind") == "proc_output") >= 3

    try:
        await wait_until(flowing, timeout_ms / 1000 + 10, f"{workload.name} streaming", interval=0.01)
    except BaseException:
        task.cancel()
        with contextlib.suppress(BaseException):
            await task
        raise
    if task.done():
        raise AssertionError(f"{workload.name} ended before a fault could land mid-stream: {task.result()}")
    return task


def connections(records: list[dict[str, Any]]) -> int:
    """How many websocket connections the server accepted (a cut shows as more than one)."""
    return sum(1 for r in records if r.get("kind") == "conn_open")


def resumed(records: list[dict[str, Any]]) -> int:
    """How many times a session was resumed."""
    return sum(1 for r in records if r.get("kind") == "session" and r.get("resumed"))


def fault_applied(proxy: Any, kind: str) -> None:
    """The fault really went in, and the injector reported no error."""
    assert any(f.kind == kind for f in proxy.injector.applied), f"no {kind!r} fault was applied"
    assert not proxy.injector.errors, f"fault injector errors: {proxy.injector.errors}"


NOISE_HOP = (
    "protocol faults act on JSON-RPC messages, and with codex's own executor behind the relay "
    "(--execserver-server codex --execserver-topology relay) the proxied hop, client -> relay, carries only "
    "the Noise channel (protobuf relay frames of ciphertext): no message to place the fault on"
)


def readable_hop(exec_server: Any) -> bool:
    """Whether the hop ``exec_proxy`` sits on carries JSON-RPC a protocol fault can be placed on (see NOISE_HOP)."""
    return getattr(exec_server, "relay", None) is None
