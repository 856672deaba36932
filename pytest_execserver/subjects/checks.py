"""Checks for any client under test, from the server's journal and the Outcomes only (no client internals).

Input: the journal records of one test (docs/journal.md; ``t`` is the server's ``time.monotonic_ns()``, the
same clock as the harness's on one machine) and the :class:`SubjectRun` list the harness recorded (each
request, its Outcome or hang, and when it was sent and answered). The client runs one request at a time, so
the journal records between a run's ``begin_ns`` and ``end_ns`` belong to that run.

Checks (each returns :class:`Violation` s with a readable account):

``delivered_output``  a completed run delivered exactly the bytes its process emitted, per stream, and its
                      exit code; a failed run delivered a prefix of them. Names the process, the stream, the
                      first differing byte offset and the seq of the chunk holding it.
``started_once``      one ``process/start`` per run: none re-sent (same or new processId) after a reconnect.
``writes_idempotent`` stdin written again after a reconnect only with the same ``writeId``.
``resumed_session``   after a drop with processes still running, the client resumed (``resumeSessionId``)
                      instead of opening a new session.
``reported_in_time``  every run was answered within its deadline (a hang is a violation naming it).
``session_lost_reported``  a run whose process's session died with the server (a ``server_restart``) ended
                      in an error that says the session is lost, within the bound the test stated
                      (``expect_session_lost``) after the restarted server first refused to resume it: not
                      success, not after retrying the refused resume until the recovery window ran out.
``bounded_memory``    what the client held during a run grew by no more than the bound the test stated
                      (``bound_memory``), against its peak in the test's earlier runs.

:func:`phase_samples` gives the journal's latency phases (connect -> initialize, start -> first output,
start -> closed as the client saw it) for ``latency_budget``.
"""

from __future__ import annotations

import base64
import itertools
import re
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pytest_execserver.subjects.base import Outcome, RunRequest, separate_streams

Record = dict[str, Any]


@dataclass(frozen=True)
class SubjectRun:
    """One request the harness sent the client, and what came back (``hang``: the harness's account)."""

    index: int
    request: RunRequest
    begin_ns: int
    end_ns: int
    outcome: Outcome | None = None
    hang: str | None = None
    deadline_s: float | None = None
    session_lost_within_s: float | None = None  # the test's bound for reporting a lost session
    memory_bound: int | None = None  # the test's bound on what the client may hold more (bytes) ...
    memory_peak: int | None = None  # ... and what it held at most during this run
    memory_what: str = ""


@dataclass(frozen=True)
class Violation:
    check: str
    message: str

    def __str__(self) -> str:
        return f"[{self.check}] {self.message}"


@dataclass
class _Proc:
    session: str
    process: str
    t: int
    argv: list[str]
    chunks: list[tuple[int, str, bytes]] = field(default_factory=list)
    exit_code: int | None = None
    closed_t: int | None = None

    def emitted(self, stream: str) -> tuple[bytes, list[tuple[int, int]]]:
        """The stream's bytes in seq order, and (start offset, seq) of each chunk."""
        data = bytearray()
        starts: list[tuple[int, int]] = []
        for seq, s, chunk in sorted(self.chunks):
            if (s == "pty" and stream == "stdout") or s == stream:
                starts.append((len(data), seq))
                data += chunk
        return bytes(data), starts


class JournalView:
    """Indexes over one test's journal records."""

    def __init__(self, records: Sequence[Record]) -> None:
        self.records = list(records)
        self.procs: dict[tuple[str, str], _Proc] = {}
        self.conn_session: dict[int, str] = {}
        for r in self.records:
            kind = r.get("kind")
            if kind == "proc_start":
                self.procs[(r["session"], r["process"])] = _Proc(r["session"], r["process"], r["t"], list(r["argv"]))
            elif kind in ("proc_output", "proc_exited", "proc_closed"):
                proc = self.procs.get((r["session"], r["process"]))
                if proc is None:
                    continue
                if kind == "proc_output":
                    proc.chunks.append((int(r["seq"]), str(r["stream"]), base64.b64decode(r["data_b64"])))
                elif kind == "proc_exited":
                    proc.exit_code = r.get("exit_code")
                else:
                    proc.closed_t = r["t"]
            elif kind == "session":
                self.conn_session[r["conn"]] = r["session"]

    def between(self, begin_ns: int, end_ns: int, pred: Callable[[Record], bool]) -> list[Record]:
        return [r for r in self.records if begin_ns <= r["t"] <= end_ns and pred(r)]

    def starts_in(self, run: SubjectRun) -> list[Record]:
        """``process/start`` requests the server received during the run."""
        return self.between(run.begin_ns, run.end_ns, lambda r: r.get("kind") == "frame" and r.get("dir") == "in"
                            and r.get("method") == "process/start")

    def procs_in(self, run: SubjectRun) -> list[_Proc]:
        return sorted((p for p in self.procs.values() if run.begin_ns <= p.t <= run.end_ns), key=lambda p: p.t)

    def first_output_t(self, proc: _Proc) -> int | None:
        times = [r["t"] for r in self.records if r.get("kind") == "proc_output" and r["session"] == proc.session
                 and r["process"] == proc.process]
        return min(times) if times else None


def _ms(t_ns: int, t0_ns: int) -> str:
    return f"+{(t_ns - t0_ns) / 1e6:.0f}ms"


def _snippet(data: bytes, at: int) -> str:
    return repr(data[max(0, at - 8):at + 24])


def _first_difference(actual: bytes, expected: bytes) -> int:
    return next((i for i, (a, b) in enumerate(zip(actual, expected, strict=False)) if a != b),
                min(len(actual), len(expected)))


View = Callable[[Sequence[tuple[str, bytes]]], tuple[bytes, bytes]]


def _seq_of_byte(view: View, chunks: list[tuple[int, str, bytes]], index: int, at: int) -> int | None:
    """The seq of the chunk holding byte ``at`` of the view's stream ``index`` (binary search on prefixes)."""
    lo, hi = 1, len(chunks)
    if hi == 0 or len(view([(s, d) for _, s, d in chunks])[index]) <= at:
        return None
    while lo < hi:
        mid = (lo + hi) // 2
        if len(view([(s, d) for _, s, d in chunks[:mid]])[index]) > at:
            hi = mid
        else:
            lo = mid + 1
    return chunks[lo - 1][0]


def check_delivered_output(view: JournalView, runs: Sequence[SubjectRun],
                           delivered_view: View = separate_streams) -> list[Violation]:
    """``delivered_view`` maps the process's chunks to what the client should deliver as (stdout, stderr):
    per stream by default; a client that merges the streams (codex) gives its own."""
    out: list[Violation] = []
    for run in runs:
        outcome = run.outcome
        if outcome is None:
            continue
        procs = view.procs_in(run)
        if not procs:
            if outcome.error is None:
                out.append(Violation("delivered_output", f"run {run.index} ({' '.join(run.request.argv)[:60]}): the "
                                     f"client reported exit code {outcome.exit_code} but the server started no "
                                     f"process during the run"))
            continue
        proc = procs[0]
        chunks = sorted(proc.chunks)
        expected = delivered_view([(s, d) for _, s, d in chunks])
        completed = outcome.error is None
        if outcome.truncated:
            size = sum(len(d) for _, _, d in chunks)
            out.append(Violation("delivered_output", f"run {run.index}, process {proc.process!r}: the client "
                                 f"truncated the output (it said so; {len(outcome.stdout) + len(outcome.stderr)} "
                                 f"bytes delivered of {size} emitted), so it cannot be compared byte-exact: keep "
                                 f"the test's output under the client's limit"))
            continue
        for index, (stream, delivered) in enumerate((("stdout", outcome.stdout), ("stderr", outcome.stderr))):
            emitted = expected[index]
            ok = delivered == emitted if completed else emitted.startswith(delivered)
            if ok:
                continue
            at = _first_difference(delivered, emitted)
            seq = _seq_of_byte(delivered_view, chunks, index, at)
            what = "differs from" if completed else "is not a prefix of"
            out.append(Violation(
                "delivered_output",
                f"run {run.index}, process {proc.process!r}: delivered {stream} {what} what the process emitted "
                f"(journal): first difference at byte {at}"
                + (f" (in the chunk with seq {seq})" if seq is not None else "")
                + f"; delivered {len(delivered)} bytes ({_snippet(delivered, at)} there), emitted {len(emitted)} "
                  f"bytes ({_snippet(emitted, at)} there)"))
        if completed and proc.exit_code is not None and outcome.exit_code != proc.exit_code:
            out.append(Violation("delivered_output", f"run {run.index}, process {proc.process!r}: the client "
                                 f"reported exit code {outcome.exit_code}, the process exited {proc.exit_code}"))
    return out


def check_started_once(view: JournalView, runs: Sequence[SubjectRun]) -> list[Violation]:
    out: list[Violation] = []
    for run in runs:
        starts = view.starts_in(run)
        if len(starts) <= 1:
            continue
        listed = "; ".join(
            f"{(r.get('params') or {}).get('processId')!r} on connection {r.get('conn')} at {_ms(r['t'], run.begin_ns)}"
            for r in starts)
        conns = {r.get("conn") for r in starts}
        why = " after a reconnect" if len(conns) > 1 else ""
        out.append(Violation("started_once", f"run {run.index} ({' '.join(run.request.argv)[:60]}): process/start "
                             f"sent {len(starts)} times{why} for one run: {listed} (a start whose answer was lost "
                             f"must be checked with process/read, never re-sent)"))
    return out


def check_writes_idempotent(view: JournalView, runs: Sequence[SubjectRun]) -> list[Violation]:
    out: list[Violation] = []
    writes: dict[str, list[Record]] = defaultdict(list)
    for r in view.records:
        if r.get("kind") == "frame" and r.get("dir") == "in" and r.get("method") == "process/write":
            params = r.get("params") or {}
            writes[str(params.get("processId"))].append(r)
    for pid, frames in writes.items():
        seen: dict[str, Record] = {}
        for r in frames:
            params = r.get("params") or {}
            chunk = str(params.get("chunk"))
            first = seen.setdefault(chunk, r)
            if first is not r and first.get("conn") != r.get("conn") and \
                    (first.get("params") or {}).get("writeId") != params.get("writeId"):
                out.append(Violation("writes_idempotent", f"process {pid!r}: the same stdin chunk "
                                     f"({len(base64.b64decode(chunk))} bytes) was written again on connection "
                                     f"{r.get('conn')} with writeId {params.get('writeId')!r} (first: "
                                     f"{(first.get('params') or {}).get('writeId')!r} on connection "
                                     f"{first.get('conn')}): a replay must reuse the writeId"))
    return out


def check_resumed_session(view: JournalView, runs: Sequence[SubjectRun]) -> list[Violation]:
    out: list[Violation] = []
    sessions = [r for r in view.records if r.get("kind") == "session"]
    closes = {r["conn"]: r["t"] for r in view.records if r.get("kind") == "conn_close"}
    t0 = view.records[0]["t"] if view.records else 0
    restarts = [r["t"] for r in view.records if r.get("kind") == "server_restart"]  # written by the harness
    for prev, new in itertools.pairwise(sessions):
        if new.get("resumed") or new["session"] == prev["session"]:
            continue
        if any(prev["t"] < t < new["t"] for t in restarts):
            continue  # the server was restarted in between: the old session is gone, a new one is right
        running = [p for p in view.procs.values() if p.session == prev["session"] and p.t < new["t"]
                   and (p.closed_t is None or p.closed_t > new["t"])]
        if not running:
            continue
        dropped = closes.get(prev["conn"])
        when = f"dropped at {_ms(dropped, t0)}" if dropped is not None else "still open"
        names = ", ".join(repr(p.process) for p in running)
        out.append(Violation("resumed_session", f"connection {prev['conn']} ({when}) had session {prev['session']} "
                             f"with process(es) {names} still running, but the client opened a new session "
                             f"{new['session']} on connection {new['conn']} at {_ms(new['t'], t0)} instead of "
                             f"resuming (initialize with resumeSessionId)"))
    return out


def check_reported_in_time(view: JournalView, runs: Sequence[SubjectRun]) -> list[Violation]:
    return [Violation("reported_in_time", run.hang) for run in runs if run.hang is not None]


SESSION_LOST_WORDS = re.compile(r"session\W?lost|session.{0,120}\b(lost|gone|unknown|expired|not found|"
                                r"no longer|cannot be resumed|refused)", re.IGNORECASE | re.DOTALL)
"""How an error says the session is lost (its type name or message), in any client's words."""


def check_session_lost_reported(view: JournalView, runs: Sequence[SubjectRun]) -> list[Violation]:
    out: list[Violation] = []
    restarts = [r["t"] for r in view.records if r.get("kind") == "server_restart"]
    for run in runs:
        if run.session_lost_within_s is None or run.outcome is None:  # no bound stated; a hang is reported_in_time's
            continue
        restart = next((t for t in restarts if run.begin_ns <= t <= run.end_ns), None)
        if restart is None or not any(p.t < restart for p in view.procs_in(run)):
            continue  # the run's process did not lose its session
        refusals = view.between(restart, run.end_ns, lambda r: r.get("kind") == "frame" and r.get("dir") == "in"
                                and r.get("method") == "initialize"
                                and bool((r.get("params") or {}).get("resumeSessionId")))
        if refusals:
            basis = f"the restarted server was first asked to resume the session ({len(refusals)} resume attempts)"
        else:
            basis = "the server restart (no resume was tried)"
        out.extend(session_lost_violations(run, restart, refusals[0]["t"] if refusals else restart, basis))
    return out


def session_lost_violations(run: SubjectRun, restart_ns: int, since_ns: int, basis: str) -> list[Violation]:
    """Judge one run whose process lost its session to a server restart at ``restart_ns``: it must end in an
    error that says so, within the run's bound of ``since_ns`` (``basis`` names that moment)."""
    assert run.outcome is not None and run.session_lost_within_s is not None
    what = f"run {run.index} ({' '.join(run.request.argv)[:60]})"
    error = run.outcome.error
    if error is None:
        return [Violation("session_lost_reported", f"{what}: the server restarted at "
                          f"{_ms(restart_ns, run.begin_ns)} and lost the session of the run's process, but "
                          f"the client reported success (exit code {run.outcome.exit_code})")]
    after_s, bound = (run.end_ns - since_ns) / 1e9, run.session_lost_within_s
    if after_s > bound:
        return [Violation("session_lost_reported", f"{what}: the session was lost to a server restart, "
                          f"but the client reported it {after_s:.1f} s after {basis}, over the "
                          f"test's bound {bound:g} s: a refused resume is terminal, report it at once "
                          f"({error.type}: {error.message[:120]})")]
    if not SESSION_LOST_WORDS.search(f"{error.type} {error.message}"):
        return [Violation("session_lost_reported", f"{what}: the session was lost to a server restart, "
                          f"but the client's error does not say so: {error.type}: {error.message[:160]}")]
    return []


def check_bounded_memory(view: JournalView, runs: Sequence[SubjectRun]) -> list[Violation]:
    out: list[Violation] = []
    baseline: int | None = None  # a run with no measured run before it has nothing to compare with
    for run in runs:
        if run.memory_bound is not None and run.memory_peak is not None and baseline is not None and \
                run.memory_peak - baseline > run.memory_bound:
            mib = 1024 * 1024
            out.append(Violation("bounded_memory", f"run {run.index} ({' '.join(run.request.argv)[:60]}): the "
                                 f"client's {run.memory_what} peaked at {run.memory_peak / mib:.1f} MiB, "
                                 f"{(run.memory_peak - baseline) / mib:.1f} MiB over its peak in the earlier runs "
                                 f"({baseline / mib:.1f} MiB): the test's bound is {run.memory_bound / mib:.1f} MiB"))
        if run.memory_peak is not None:
            baseline = max(baseline or 0, run.memory_peak)
    return out


CHECKS: dict[str, Callable[[JournalView, Sequence[SubjectRun]], list[Violation]]] = {
    "delivered_output": check_delivered_output,
    "started_once": check_started_once,
    "writes_idempotent": check_writes_idempotent,
    "resumed_session": check_resumed_session,
    "reported_in_time": check_reported_in_time,
    "session_lost_reported": check_session_lost_reported,
    "bounded_memory": check_bounded_memory,
}


def check_subject(records: Sequence[Record], runs: Sequence[SubjectRun],
                  delivered_view: View = separate_streams) -> list[Violation]:
    """Every check over one test's journal records and runs (``delivered_view``: see check_delivered_output)."""
    view = JournalView(records)
    return [v for name, check in CHECKS.items()
            for v in (check_delivered_output(view, runs, delivered_view) if name == "delivered_output"
                      else check(view, runs))]


@dataclass(frozen=True)
class PhaseSample:
    """One latency sample from the journal: ``phase`` (a latency_budget phase), key, begin and end times."""

    phase: str
    key: str
    begin_ns: int
    end_ns: int


def phase_samples(records: Sequence[Record], runs: Sequence[SubjectRun]) -> list[PhaseSample]:
    """``initialize``: connection accepted -> session; ``first_output``: process/start received -> first output
    emitted; ``process``: process/start received -> the client's reply (start -> closed as the client saw it;
    completed runs only)."""
    view = JournalView(records)
    out: list[PhaseSample] = []
    opened = {r["conn"]: r["t"] for r in view.records if r.get("kind") == "conn_open"}
    for r in view.records:
        if r.get("kind") == "session" and r["conn"] in opened:
            out.append(PhaseSample("initialize", f"conn{r['conn']}", opened[r["conn"]], r["t"]))
    for run in runs:
        starts = view.starts_in(run)
        procs = view.procs_in(run)
        if not starts or not procs:
            continue
        first = view.first_output_t(procs[0])
        if first is not None:
            out.append(PhaseSample("first_output", procs[0].process, starts[0]["t"], first))
        if run.outcome is not None and run.outcome.error is None:
            out.append(PhaseSample("process", procs[0].process, starts[0]["t"], run.end_ns))
    return out


def format_violations(violations: Sequence[Violation], limit: int = 20) -> str:
    lines = [str(v) for v in violations]
    more = len(lines) - limit
    return "\n".join(lines[:limit] + ([f"... and {more} more"] if more > 0 else []))
