"""The client under test as a fixture (``exec_subject``) and the checks on it after each test.

Loaded by the plugin (``pytest_plugins`` in :mod:`pytest_execserver.plugin`). ``--execserver-client``
(ini ``execserver_client``) picks the client: ``ours`` / ``ours:legacy-read`` (our ExecClient in that mode)
or a command with ``{url}`` (any client speaking the line protocol; :mod:`pytest_execserver.subjects.subprocess`).

``exec_subject`` connects the client through ``exec_proxy`` (faults apply to it) to ``exec_server``, whose
journal is the ground truth. After a test that used it, :mod:`pytest_execserver.subject_checks` run over the
journal records of that test and every Outcome; a violation fails the test. The journal's latency phases are
added to the test's history, so ``latency_budget`` markers apply to any client.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
import time
from collections.abc import AsyncIterator, Generator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from pytest_execserver.history import EventKind, HistoryEvent
from pytest_execserver.invariants import ExecHistory
from pytest_execserver.launch import ServerProcess
from pytest_execserver.runstate import TEST_KEY
from pytest_execserver.subject_checks import (
    JournalView,
    SubjectRun,
    check_reported_in_time,
    check_subject,
    format_violations,
    phase_samples,
)
from pytest_execserver.subjects.base import ClientUnderTest, Outcome, RunRequest, SubjectError
from pytest_execserver.subjects.ours import OursSubject, parse_ours
from pytest_execserver.subjects.subprocess import SubjectHang, SubprocessSubject, adapter_argv

CLIENT_OPTION = "execserver_client"
DEFAULT_CLIENT = "ours"
ENV = {"PATH": "/usr/bin:/bin", "LC_ALL": "C"}  # a run's complete child environment, unless the test gives one
SUBJECTS_KEY = pytest.StashKey["SubjectState"]()


def client_spec(config: pytest.Config) -> str:
    """The ``--execserver-client`` value (command line, then ini), validated; UsageError when bad."""
    value = config.getoption(CLIENT_OPTION, None)
    where = "--execserver-client"
    if value is None:
        ini = config.getini(CLIENT_OPTION)
        value, where = (ini.strip(), f"ini option {CLIENT_OPTION}") if isinstance(ini, str) and ini.strip() else (
            DEFAULT_CLIENT, "default")
    spec = str(value).strip()
    if parse_ours(spec) is None:
        if spec.startswith("ours"):
            raise pytest.UsageError(f"{where}: unknown client {spec!r}; use ours, ours:legacy-read or a command "
                                    "with {url}")
        try:
            adapter_argv(spec, "ws://127.0.0.1:1")
        except ValueError as exc:
            raise pytest.UsageError(f"{where}: {exc}") from exc
    return spec


def pytest_configure(config: pytest.Config) -> None:
    client_spec(config)  # a bad value is a usage error at start-up, not in every test


class SubjectLag:
    """What ``receiver_lag`` does to a subject: ours pauses its consumer; an adapter process is stopped
    (SIGSTOP to its process group, SIGCONT after the pause), so it reads nothing and TCP backs up."""

    def __init__(self, subject: ClientUnderTest) -> None:
        self.subject = subject
        self.timers: list[threading.Timer] = []

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
            self.subject.pause_consumer(ms)
            return
        proc = getattr(self.subject, "proc", None)
        if proc is None or proc.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGSTOP)
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


class RecordingSubject:
    """The client under test, as ``exec_subject`` yields it: runs are timed and recorded for the checks.

    ``await exec_subject.run(RunRequest(...))`` or ``await exec_subject.run_argv(argv, ...)`` (cwd defaults
    to the test's scratch directory, env to a minimal PATH). A hang raises :class:`SubjectHang` and is also
    recorded (the ``reported_in_time`` check names its deadline).
    """

    def __init__(self, subject: ClientUnderTest, state: SubjectState, scratch: Path) -> None:
        self.subject = subject
        self.state = state
        self.scratch = scratch
        self.name = subject.name

    def request(self, argv: list[str] | tuple[str, ...], *, env: Mapping[str, str] | None = None,
                stdin: bytes | None = None, tty: bool = False, timeout_ms: int = 30_000) -> RunRequest:
        return RunRequest(list(argv), self.scratch.as_uri(), dict(ENV if env is None else env), stdin, tty,
                          timeout_ms)

    async def run_argv(self, argv: list[str] | tuple[str, ...], **kwargs: Any) -> Outcome:
        return await self.run(self.request(argv, **kwargs))

    async def run(self, request: RunRequest) -> Outcome:
        index = len(self.state.runs) + 1
        begin = time.monotonic_ns()
        try:
            outcome = await self.subject.run(request)
        except SubjectHang as exc:
            self.state.runs.append(SubjectRun(index, request, begin, time.monotonic_ns(), hang=f"run {index}: {exc}",
                                              deadline_s=exc.deadline_s))
            raise
        self.state.runs.append(SubjectRun(index, request, begin, time.monotonic_ns(), outcome))
        return outcome

    def journal_records(self) -> list[dict[str, Any]]:
        """The server journal's records since this test began (empty without a journal)."""
        return [] if self.state.journal is None else read_records(self.state.journal, self.state.offset)

    async def close(self) -> None:
        await self.subject.close()


def _make_subject(spec: str, url: str, home: Path) -> ClientUnderTest:
    mode = parse_ours(spec)
    if mode is not None:
        return OursSubject(url, mode)
    return SubprocessSubject(spec, url, home=home)


@pytest_asyncio.fixture
async def exec_subject(exec_proxy: Any, exec_server: ServerProcess, exec_scratch: Path, exec_history: ExecHistory,
                       _execserver_clients: Any, request: pytest.FixtureRequest) -> AsyncIterator[RecordingSubject]:
    """The client under test (``--execserver-client``), connected through ``exec_proxy``; checked after the
    test against ``exec_server``'s journal."""
    spec = client_spec(request.config)
    journal = getattr(exec_server, "journal_path", None)
    if journal is None:
        pytest.skip(f"exec_subject needs the reference server's journal (the ground truth of its checks); "
                    f"server {exec_server.kind!r} keeps none: use --execserver-server ref")
    offset = journal.stat().st_size if journal is not None and journal.exists() else 0
    home = exec_scratch.parent / f"{exec_scratch.name}-client"  # the adapter's HOME: scratch, not the server's cwd
    subject = _make_subject(spec, exec_proxy.url, home)
    state = SubjectState(subject, journal, offset)
    request.node.stash[SUBJECTS_KEY] = state
    lag = SubjectLag(subject)
    _execserver_clients.clients.append(lag)  # receiver_lag faults reach it
    for fault in [f for f in exec_proxy.injector.applied if f.kind == "receiver_lag"]:
        lag.pause_consumer(float(fault.params["pause_ms"]))  # applied before the subject existed
    recording = RecordingSubject(subject, state, exec_scratch)
    try:
        yield recording
    finally:
        lag.stop()
        with contextlib.suppress(Exception):
            await subject.close()


# --------------------------------------------------------------------------------------- after the test


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
    state = item.stash.get(SUBJECTS_KEY, None)
    if state is None:
        return None
    if state.journal is None:  # not the reference server: only what needs no journal
        violations = check_reported_in_time(JournalView([]), state.runs)
    else:
        records = read_records(state.journal, state.offset)
        history = getattr(item.stash.get(TEST_KEY, None), "history", None)
        if isinstance(history, ExecHistory):
            _feed_phases(history, records, state.runs, state.subject.name)
        violations = check_subject(records, state.runs)
    if not violations:
        return None
    return f"client under test {state.subject.name!r} failed the client checks:\n{format_violations(violations)}"


@pytest.hookimpl(wrapper=True, trylast=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    # innermost wrapper: the journal phases reach the history before the plugin checks latency budgets
    try:
        result = yield
    except BaseException:
        failure = evaluate_subject(item)
        if failure:
            item.add_report_section("call", "execserver client checks", failure)
        raise
    failure = evaluate_subject(item)
    if failure:
        pytest.fail(failure, pytrace=False)
    return result


__all__ = ["RecordingSubject", "SubjectError", "SubjectHang", "exec_subject"]
