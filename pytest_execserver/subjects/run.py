"""The client under test during one test: started, timed, lagged, and checked against the journal.

The implementation behind ``exec_subject`` (:mod:`pytest_execserver.subjects.fixtures`, the light plugin
part): :class:`RecordingSubject` is what the fixture yields; :func:`open_subject` builds it;
:func:`evaluate_subject` runs :mod:`pytest_execserver.subjects.checks` after the test.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import threading
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

from pytest_execserver.checks.history import EventKind, HistoryEvent
from pytest_execserver.checks.invariants import ExecHistory
from pytest_execserver.glue.preflight import unavailable
from pytest_execserver.glue.runstate import SETTINGS_KEY, TEST_KEY
from pytest_execserver.subjects.base import ClientUnderTest, Outcome, RunRequest, SubjectHang, delivered_view
from pytest_execserver.subjects.checks import (
    CHECKS,
    JournalView,
    SubjectRun,
    check_reported_in_time,
    check_subject,
    format_violations,
    phase_samples,
)
from pytest_execserver.subjects.detection import detection_times
from pytest_execserver.subjects.journal_free import (
    JOURNAL_FREE_CHECKS,
    NOT_CHECKED,
    check_ran_once,
    check_session_lost_journal_free,
    marker_name,
    restart_ends,
    wrap_argv,
)
from pytest_execserver.subjects.memory import MemoryProbe
from pytest_execserver.subjects.ours import OursSubject
from pytest_execserver.subjects.spec import is_codex_spec, parse_ours
from pytest_execserver.subjects.subprocess import SubprocessSubject

ENV = {"PATH": "/usr/bin:/bin", "LC_ALL": "C"}  # a run's complete child environment, unless the test gives one
SUBJECT_STATE = pytest.StashKey["SubjectState"]()


class SubjectLag:
    """What ``receiver_lag`` does to a subject: ours pauses its consumer; a client process is stopped
    (SIGSTOP to its process group, SIGCONT after the pause), so it reads nothing and TCP backs up.

    A lag asked for while no client process runs (before the first request, or between codex runs: codex is
    one process per run) is *pending*: it lands on the next run once its process streams output
    (:meth:`RecordingSubject.run`), so it is never a no-op.
    """

    def __init__(self, subject: ClientUnderTest) -> None:
        self.subject = subject
        self.timers: list[threading.Timer] = []
        self.pending: list[float] = []
        self.landed: list[float] = []  # every pause that reached the client (ms)

    @property
    def queue_limit(self) -> int:
        client = getattr(self.subject, "client", None)
        return int(getattr(client, "queue_limit", 0))

    @queue_limit.setter
    def queue_limit(self, limit: int) -> None:
        client = getattr(self.subject, "client", None)
        if client is not None:
            client.queue_limit = limit

    def pause_consumer(self, ms: float) -> None:
        if isinstance(self.subject, OursSubject):
            if self.subject.client is None:  # not connected yet
                self.pending.append(ms)
            else:
                self.subject.pause_consumer(ms)
                self.landed.append(ms)
            return
        proc = getattr(self.subject, "proc", None)
        if proc is None or proc.returncode is not None:
            self.pending.append(ms)
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGSTOP)
            self.landed.append(ms)
        timer = threading.Timer(ms / 1000, self.resume, args=(proc.pid,))
        timer.daemon = True
        self.timers.append(timer)
        timer.start()

    @staticmethod
    def resume(pgid: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGCONT)

    def stop(self) -> None:
        for timer in self.timers:
            timer.cancel()
        proc = getattr(self.subject, "proc", None)
        if proc is not None:
            self.resume(proc.pid)


@dataclass
class SubjectState:
    """One test's subject: the journal to read, where this test's records start, and every run."""

    subject: ClientUnderTest
    journal: Path | None
    offset: int
    runs: list[SubjectRun] = field(default_factory=list)
    markers: dict[int, Path] = field(default_factory=dict)  # journal-free: run index -> its start marker
    unchecked: dict[str, str] = field(default_factory=dict)  # journal-free: what the test could not check, why
    connections: Callable[[], int] | None = None  # journal-free: client connections a relay saw since the start
    session_lost_within_s: float | None = None  # bounds the test stated (see the checks)
    memory_bound: int | None = None


class RecordingSubject:
    """The client under test, as ``exec_subject`` yields it: runs are timed and recorded for the checks.

    ``await exec_subject.run(RunRequest(...))`` or ``await exec_subject.run_argv(argv, ...)`` (cwd defaults
    to the test's scratch directory, env to a minimal PATH). A hang raises :class:`SubjectHang` and is also
    recorded (the ``reported_in_time`` check names its deadline).
    """

    def __init__(self, subject: ClientUnderTest, state: SubjectState, scratch: Path,
                 lag: SubjectLag | None = None) -> None:
        self.subject = subject
        self.state = state
        self.scratch = scratch
        self.name = subject.name
        self.lag = lag

    def expect_session_lost(self, within_s: float) -> None:
        """From now on, a run whose session dies with the server must report it within ``within_s`` of the
        restarted server's first resume attempt (check ``session_lost_reported``)."""
        self.state.session_lost_within_s = float(within_s)

    def bound_memory(self, max_growth: int) -> None:
        """From now on, measure what the client holds in each run (check ``bounded_memory``): at most
        ``max_growth`` bytes over its peak in the earlier runs. Run a quiet run first: it is the baseline."""
        self.state.memory_bound = int(max_growth)

    def request(self, argv: list[str] | tuple[str, ...], *, env: Mapping[str, str] | None = None,
                stdin: bytes | None = None, tty: bool = False, timeout_ms: int = 30_000) -> RunRequest:
        return RunRequest(list(argv), self.scratch.as_uri(), dict(ENV if env is None else env), stdin, tty,
                          timeout_ms)

    async def run_argv(self, argv: list[str] | tuple[str, ...], **kwargs: Any) -> Outcome:
        return await self.run(self.request(argv, **kwargs))

    async def run(self, request: RunRequest) -> Outcome:
        index = len(self.state.runs) + 1
        if self.journal_free and request.cwd == self.scratch.as_uri():  # count its starts (journal_free.py)
            marker = marker_name(len(self.state.markers) + 1)
            self.state.markers[index] = self.scratch / marker
            request = replace(request, argv=wrap_argv(request.argv, marker))
        begin = time.monotonic_ns()
        lagging = None
        if self.lag is not None and self.lag.pending:
            lagging = asyncio.ensure_future(self._lag_once_streaming(begin, self.process_starts()))
        probe = None if self.state.memory_bound is None else MemoryProbe(self.subject)
        if probe is not None:
            probe.start()
        bounds: dict[str, Any] = {"session_lost_within_s": self.state.session_lost_within_s,
                                  "memory_bound": self.state.memory_bound}
        try:
            outcome = await self.subject.run(request)
        except SubjectHang as exc:
            self.state.runs.append(SubjectRun(index, request, begin, time.monotonic_ns(), hang=f"run {index}: {exc}",
                                              deadline_s=exc.deadline_s, **bounds))
            raise
        finally:
            if lagging is not None:
                lagging.cancel()
                with contextlib.suppress(BaseException):
                    await lagging
            if probe is not None:
                bounds.update(memory_peak=await probe.stop(), memory_what=probe.what)
        self.state.runs.append(SubjectRun(index, request, begin, time.monotonic_ns(), outcome, **bounds))
        return outcome

    @property
    def journal_free(self) -> bool:
        """Whether the server keeps no journal, so the checks are the journal-free ones (journal_free.py)."""
        return self.state.journal is None

    def unchecked(self, what: str, reason: str) -> None:
        """Note something this test checks only with a journal, and why it was not checked (in the report)."""
        self.state.unchecked[what] = reason

    def client_connections(self) -> int | None:
        """Journal-free: how many websockets the client opened since the test began, when something other than
        the server's journal saw them (the relay, for codex's executor behind it); else None."""
        return None if self.state.connections is None else self.state.connections()

    def process_starts(self) -> int:
        """Journal-free: how many processes of this test's runs have started so far (their markers' bytes)."""
        return sum(_size(path) for path in self.state.markers.values())

    @property
    def merged_streams(self) -> bool:
        """Whether the client delivers one text for all streams (codex) instead of stdout and stderr apart."""
        return bool(getattr(self.subject, "merged_streams", False))

    def delivered_view(self, chunks: Sequence[tuple[str, bytes]]) -> tuple[bytes, bytes]:
        """What this client should deliver as (stdout, stderr) for a process's ``(stream, data)`` chunks."""
        return delivered_view(self.subject, chunks)

    def emitted(self, outcome: Outcome) -> list[tuple[str, bytes]] | None:
        """The ``(stream, data)`` chunks, in seq order, that the process of the run answered by ``outcome``
        emitted (journal), or None when the journal shows no process for it."""
        run = next((r for r in self.state.runs if r.outcome is outcome), None)
        if run is None:
            return None
        procs = JournalView(self.journal_records()).procs_in(run)
        return [(stream, data) for _, stream, data in sorted(procs[0].chunks)] if procs else None

    async def _lag_once_streaming(self, begin_ns: int, starts_before: int) -> None:
        """Apply the pending receiver lag once this run's process has emitted output (the client is reading);
        journal-free, once it has started (its marker)."""
        assert self.lag is not None
        path, offset = self.state.journal, self.state.offset
        while True:
            if path is None:
                if self.process_starts() > starts_before:
                    break
            elif any(r.get("kind") == "proc_output" and r["t"] >= begin_ns for r in read_records(path, offset)):
                break
            await asyncio.sleep(0.01)
        pending, self.lag.pending = self.lag.pending, []
        for ms in pending:
            self.lag.pause_consumer(ms)

    def journal_records(self) -> list[dict[str, Any]]:
        """The server journal's records since this test began (empty without a journal)."""
        return [] if self.state.journal is None else read_records(self.state.journal, self.state.offset)

    async def close(self) -> None:
        await self.subject.close()


def make_subject(spec: str, url: str, home: Path, confinement: Any = None) -> ClientUnderTest:
    """The client for an ``--execserver-client`` value (``confinement``: how codex runs, the server's)."""
    mode = parse_ours(spec)
    if mode is not None:
        return OursSubject(url, mode)
    if is_codex_spec(spec):
        from pytest_execserver.subjects.codex import make_codex_subject

        return make_codex_subject(spec, url, home, confinement)
    return SubprocessSubject(spec, url, home=home)


async def open_subject(spec: str, exec_proxy: Any, exec_server: Any, exec_scratch: Path, clients: Any,
                       node: pytest.Item) -> AsyncIterator[RecordingSubject]:
    """The body of the ``exec_subject`` fixture."""
    journal = getattr(exec_server, "journal_path", None)
    offset = 0 if journal is None or not journal.exists() else journal.stat().st_size
    if journal is None:  # codex's executor, a user's server: the journal-free checks (journal_free.py)
        _journal_free_budgets(node)
    home = exec_scratch.parent / f"{exec_scratch.name}-client"  # the adapter's HOME: scratch, not the server's cwd
    if node.config.stash[SETTINGS_KEY].topology == "relay":  # topology hook: subjects/relay.py
        from pytest_execserver.subjects.relay import relay_subject

        subject: ClientUnderTest = relay_subject(spec, exec_proxy, exec_server, home, node.config)
    else:
        subject = make_subject(spec, exec_proxy.url, home, getattr(exec_server, "confinement", None))
    if is_codex_spec(spec):
        from pytest_execserver.servers.codex import CodexUnavailable

        reason = unavailable(node.config, "client")
        if reason is not None:
            await subject.close()
            pytest.skip(reason)
        try:
            await subject.start()  # type: ignore[attr-defined]  # fetches the binary
        except CodexUnavailable as exc:
            await subject.close()
            message = f"the client under test {spec!r} cannot be had: {exc}"
            if node.config.stash[SETTINGS_KEY].skip_unavailable:
                pytest.skip(message)
            pytest.fail(message, pytrace=False)
    state = SubjectState(subject, journal, offset, connections=_relay_connections(exec_server))
    node.stash[SUBJECT_STATE] = state
    if not isinstance(subject, OursSubject) and journal is not None:  # ours reports its cuts to the history
        exec_proxy.injector.cut_probes.append(JournalCuts(journal, offset))
    lag = SubjectLag(subject)
    clients.clients.append(lag)  # receiver_lag faults reach it
    for fault in [f for f in exec_proxy.injector.applied if f.kind == "receiver_lag"]:
        lag.pause_consumer(float(fault.params["pause_ms"]))  # applied before the subject existed
    recording = RecordingSubject(subject, state, exec_scratch, lag)
    try:
        yield recording
    finally:
        lag.stop()
        with contextlib.suppress(Exception):
            await subject.close()


def _relay_connections(exec_server: Any) -> Callable[[], int] | None:
    """For codex's executor behind our relay: the client websockets the relay opened from now on."""
    relay = getattr(exec_server, "relay", None)
    if relay is None:
        return None

    def harness_opens() -> int:
        return sum(1 for e in relay.events("ws_open") if e.get("role") == "harness")

    before = harness_opens()
    return lambda: harness_opens() - before


def _journal_free_budgets(node: pytest.Item) -> None:
    """Without a journal there are no phase samples: the test's latency budgets are not measured (said in
    the report), instead of failing for want of samples."""
    test_state = node.stash.get(TEST_KEY, None)
    if test_state is not None and test_state.budgets:
        test_state.record["budgets_not_measured"] = {b.phase: NOT_CHECKED["latency_budget"] for b in test_state.budgets}
        test_state.budgets = []


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


class JournalCuts:
    """A cut witness for the injector (``cut_probes``): whether the server journaled a connection closing
    since a time. Reads the journal incrementally (the injector polls every few ms)."""

    def __init__(self, path: Path, offset: int) -> None:
        self.path = path
        self.pos = offset
        self.partial = b""
        self.closes: list[int] = []

    def __call__(self, since_ns: int) -> bool:
        try:
            with open(self.path, "rb") as f:
                f.seek(self.pos)
                data = f.read()
        except OSError:
            return False
        self.pos += len(data)
        *lines, self.partial = (self.partial + data).split(b"\n")
        for line in lines:
            if b"conn_close" in line:
                with contextlib.suppress(ValueError, KeyError, TypeError):
                    record = json.loads(line)
                    if record.get("kind") == "conn_close":
                        self.closes.append(int(record["t"]))
        return any(t >= since_ns for t in self.closes)


def read_records(path: Path, offset: int) -> list[dict[str, Any]]:
    """Journal records from byte ``offset`` on (a torn last line is dropped)."""
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            data = f.read()
    except OSError:
        return []
    records: list[dict[str, Any]] = []
    for line in data.split(b"\n"):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            continue  # only the last line can be torn
        if isinstance(record, dict) and "t" in record:
            records.append(record)
    return records


def _feed_phases(history: ExecHistory, records: list[dict[str, Any]], runs: list[SubjectRun], name: str) -> None:
    """Add the journal's latency phases to the test's history as invoke/ok pairs (what latency_budget reads)."""
    for sample in phase_samples(records, runs):
        pid = None if sample.phase == "initialize" else sample.key
        pair: tuple[tuple[EventKind, int], ...] = (("invoke", sample.begin_ns), ("ok", sample.end_ns))
        for kind, t in pair:
            # History.record stamps "now"; these events happened earlier, at the journal's times.
            with history._lock:
                history._events.append(HistoryEvent(next(history._counter), kind, sample.phase, name, t, pid,
                                                    data={"id": sample.key, "source": "journal"}))


def evaluate_subject(item: pytest.Item) -> str | None:
    """Run the subject checks for ``item``; the failure text, or None."""
    state = item.stash.get(SUBJECT_STATE, None)
    if state is None:
        return None
    test_state = item.stash.get(TEST_KEY, None)
    history = getattr(test_state, "history", None)
    if state.journal is None:  # no journal: the journal-free checks (journal_free.py)
        starts = {index: _size(path) for index, path in state.markers.items()}
        back = [] if history is None else restart_ends(history)
        violations = (check_reported_in_time(JournalView([]), state.runs) + check_ran_once(state.runs, starts)
                      + check_session_lost_journal_free(state.runs, starts, back))
    else:
        records = read_records(state.journal, state.offset)
        if isinstance(history, ExecHistory):
            _feed_phases(history, records, state.runs, state.subject.name)
        violations = check_subject(records, state.runs, lambda chunks: delivered_view(state.subject, chunks))
    if test_state is not None:  # the JSON report: which client, and each check with its violations
        checked = CHECKS if state.journal is not None else ("reported_in_time", "started_once", "session_lost_reported")
        test_state.record["client"] = {
            "name": state.subject.name,
            "runs": len(state.runs),
            "checks": {name: [v.message for v in violations if v.check == name] for name in checked},
        }
        if state.journal is None:  # the report says what was checked without the journal, and what was not
            test_state.record["client"]["journal_free"] = {
                "checked": dict(JOURNAL_FREE_CHECKS), "not_checked": {**NOT_CHECKED, **state.unchecked}}
            item.user_properties.append(("execserver_journal_free", sorted(JOURNAL_FREE_CHECKS)))
        elif history is not None:  # a silently dead connection: when the client noticed
            fired = [(str(e.data.get("kind")), e.time_ns) for e in history.events
                     if e.op == "fault" and e.data.get("action") == "apply"]
            detection = detection_times(fired, records, state.runs)
            if detection:
                test_state.record["client"]["detection"] = detection
    if not violations:
        return None
    return f"client under test {state.subject.name!r} failed the client checks:\n{format_violations(violations)}"


def client_stderr(item: pytest.Item) -> str | None:
    """The tail of a client program's stderr (for a failing test's report), or None."""
    state = item.stash.get(SUBJECT_STATE, None)
    if state is None or not isinstance(state.subject, SubprocessSubject):
        return None
    return state.subject.stderr_tail(4000) or None
