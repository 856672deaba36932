"""Client checks for a server that keeps no journal (codex's executor, a user's server; direct or relay).

The reference server's journal says what each process really emitted, how often it was started, and how
the client connected. Without it, what can still be known (pure logic here, no I/O):

- *what the client delivered*: workloads are deterministic, so the client's view is compared with the
  workload's bytes; for a client that merges the streams into one text (codex) the text must be an
  order-keeping interleaving of the workload's stdout and stderr (:func:`interleaving_error`);
- *how often a run's process started*: each command is wrapped (:func:`wrap_argv`) so that it appends one
  byte to a marker file in the test's scratch directory before it ``exec``-s the command; a run whose marker
  holds two bytes was started twice (:func:`check_ran_once`);
- *liveness*: every run answered within its deadline (the ``reported_in_time`` check needs no journal).

What needs the journal and is not checked journal-free is named in :data:`NOT_CHECKED`, and the report says
which checks ran journal-free.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pytest_execserver.checks.history import History
from pytest_execserver.subjects.checks import SubjectRun, Violation, session_lost_violations

MARKER_PREFIX = ".execserver-run-"

# Journal checks and what replaces them (or why nothing does), for the report.
JOURNAL_FREE_CHECKS = {
    "delivered_output": "the client's view against the workload's expected bytes (the suite's own assertions)",
    "started_once": "each run's process started at most once: bytes appended to its marker file in scratch",
    "reported_in_time": "every run answered within its timeout_ms plus the harness's margin",
    "session_lost_reported": "timed from the restarted server being back (the restart's end in the history), "
                             "not from its first refused resume, which only its journal shows",
}
NOT_CHECKED = {
    "writes_idempotent": "stdin written twice shows only as wrong output (checked as delivered bytes); "
                         "the journal's process/write records are not there",
    "resumed_session": "whether a reconnect resumed the session or opened a new one is only in the journal",
    "latency_budget": "the phases (initialize, first_output, process) are the journal's timestamps",
}


def marker_name(index: int) -> str:
    """The marker file of run ``index`` (inside the test's scratch directory: no ``/``)."""
    return f"{MARKER_PREFIX}{index}"


def wrap_argv(argv: Sequence[str], marker: str) -> list[str]:
    """``argv`` run by ``/bin/sh`` after appending one byte to ``marker`` (relative to the cwd); ``exec`` keeps
    its pid, stdin, output and exit code the command's own."""
    if "/" in marker or marker in ("", ".", ".."):
        raise ValueError(f"marker {marker!r} must be a plain file name in the scratch directory")
    return ["/bin/sh", "-c", 'printf . >> "$0" && exec "$@"', marker, *argv]


def check_ran_once(runs: Sequence[SubjectRun], starts: Mapping[int, int]) -> list[Violation]:
    """``starts``: run index -> how many times its process started (marker bytes). More than once is a
    violation; a run the client reported as a success whose process never started is one too."""
    out: list[Violation] = []
    for run in runs:
        if run.index not in starts:
            continue
        n = starts[run.index]
        if n > 1:
            out.append(Violation("started_once", (
                f"run {run.index} ({' '.join(run.request.argv)[:80]}): its process started {n} times "
                f"(marker file in scratch, journal-free); a run must start its process once")))
        elif n == 0 and run.outcome is not None and run.outcome.error is None:
            out.append(Violation("started_once", (
                f"run {run.index}: the client reported exit code {run.outcome.exit_code} but the process never "
                f"started (its marker file is empty, journal-free)")))
    return out


def interleaving_error(text: bytes, first: bytes, second: bytes, *, whole: bool = True) -> str | None:
    """None when ``text`` interleaves ``first`` and ``second`` keeping each one's order (``whole`` False: a
    prefix of such an interleaving), else where and how it stops being one.

    The set of how many bytes of ``second`` can have been used so far is carried along ``text``; it stays
    small (it is bounded by ``len(second) + 1``), so this is fast for a short ``second`` (stderr lines)."""
    used: set[int] = {0}
    for at, byte in enumerate(text):
        step: set[int] = set()
        for j in used:
            i = at - j
            if i < len(first) and first[i] == byte:
                step.add(j)
            if j < len(second) and second[j] == byte:
                step.add(j + 1)
        if not step:
            best = max(used)
            return (f"byte {at} ({text[max(0, at - 16):at + 16]!r} around it) fits neither stream: after "
                    f"{at - best} bytes of stdout and {best} of stderr, expected {first[at - best:at - best + 16]!r} "
                    f"or {second[best:best + 16]!r}")
        used = step
    if whole and not (len(second) in used and len(text) == len(first) + len(second)):
        best = max(used)
        return (f"the text ends after {len(text)} bytes: {len(text) - best} of {len(first)} stdout bytes and "
                f"{best} of {len(second)} stderr bytes")
    return None


def check_session_lost_journal_free(runs: Sequence[SubjectRun], starts: Mapping[int, int],
                                    restarts_back: Sequence[int]) -> list[Violation]:
    """``session_lost_reported`` without the journal: a run with a stated bound whose process had started
    (``starts``: marker bytes) when the server restarted is judged from the moment the restarted server was
    back (``restarts_back``: the restart faults' ends, ``time.monotonic_ns()``), before any resume it refused."""
    out: list[Violation] = []
    for run in runs:
        if run.session_lost_within_s is None or run.outcome is None or not starts.get(run.index):
            continue
        back = next((t for t in restarts_back if run.begin_ns <= t <= run.end_ns), None)
        if back is not None:
            out.extend(session_lost_violations(run, back, back, "the restarted server was back (journal-free)"))
    return out


def restart_ends(history: History) -> list[int]:
    """When each ``server_restart`` fault of ``history`` ended: the restarted server was back."""
    return [e.time_ns for e in history.select("fault")
            if e.data.get("kind") == "server_restart" and e.data.get("action") == "remove"]
