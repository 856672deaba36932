"""The journal-free checks' logic (pytest_execserver/subjects/journal_free.py), alone: the interleaving of
two streams, the start marker's wrapper, and the ran-once check."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from pytest_execserver.subjects.base import ClientFailure, Outcome, RunRequest
from pytest_execserver.subjects.checks import SubjectRun
from pytest_execserver.subjects.journal_free import (
    check_ran_once,
    check_session_lost_journal_free,
    interleaving_error,
    marker_name,
    wrap_argv,
)
from pytest_execserver.suites.chaos.workloads import paced_workload

OUT, ERR = b"1\n2\n3\n4\n", b"err-1\nerr-2\n"


@pytest.mark.parametrize("text", [OUT + ERR, ERR + OUT, b"1\n2\nerr-1\n3\n4\nerr-2\n", b"1\nerr-1\n2\n3\nerr-2\n4\n",
                                  b"1\n2\ner" + b"r-1\n3\n4\nerr-2\n"])
def test_interleavings_are_accepted(text: bytes) -> None:
    assert interleaving_error(text, OUT, ERR) is None


@pytest.mark.parametrize(("text", "says"), [
    (b"1\n3\n2\n4\nerr-1\nerr-2\n", "fits neither stream"),  # stdout reordered
    (b"1\n2\n3\n4\nerr-2\nerr-1\n", "fits neither stream"),  # stderr reordered
    (b"1\n2\n3\n4\nerr-1\n", "ends after"),  # a line lost
    (b"1\n2\n3\n4\n4\nerr-1\nerr-2\n", "fits neither stream"),  # a line twice
])
def test_broken_interleavings_are_named(text: bytes, says: str) -> None:
    problem = interleaving_error(text, OUT, ERR)
    assert problem is not None and says in problem


def test_prefixes() -> None:
    assert interleaving_error(b"1\nerr-1\n2", OUT, ERR, whole=False) is None
    assert interleaving_error(b"1\nerr-x", OUT, ERR, whole=False) is not None
    assert interleaving_error(b"1\nerr-1\n2", OUT, ERR) is not None


def test_a_real_paced_stream_is_fast_to_check() -> None:
    workload = paced_workload(40, per_batch=150)
    merged = subprocess.run(list(workload.argv), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False).stdout
    assert interleaving_error(merged, workload.stdout, workload.stderr) is None
    assert interleaving_error(merged[:-1], workload.stdout, workload.stderr) is not None


def test_the_wrapper_counts_starts_and_keeps_the_command(tmp_path: Path) -> None:
    argv = wrap_argv(["/bin/sh", "-c", "cat; echo out; echo err >&2; exit 7"], marker_name(1))
    for _ in range(2):
        done = subprocess.run(argv, cwd=tmp_path, input=b"in\n", capture_output=True, check=False)
        assert (done.returncode, done.stdout, done.stderr) == (7, b"in\nout\n", b"err\n")
    assert (tmp_path / marker_name(1)).read_bytes() == b".."
    with pytest.raises(ValueError, match="plain file name"):
        wrap_argv(["true"], "../x")


def _run(index: int, outcome: Outcome | None) -> SubjectRun:
    return SubjectRun(index, RunRequest(["seq", "3"], "file:///scratch"), 0, 1, outcome)


def test_ran_once() -> None:
    ok, failed = Outcome(0, b"", b""), Outcome(None, b"", b"", error=ClientFailure("Lost", "gone"))
    runs = [_run(1, ok), _run(2, ok), _run(3, ok), _run(4, None)]
    violations = check_ran_once(runs, {1: 1, 2: 2, 3: 0, 4: 0})
    assert [v.check for v in violations] == ["started_once", "started_once"]
    assert "started 2 times" in violations[0].message and "never started" in violations[1].message
    assert check_ran_once([_run(1, failed)], {1: 0}) == []  # a failure may not have started it


def test_session_lost_journal_free() -> None:
    """Timed from the restarted server being back (at 2 s): a lost session must be reported within the bound
    (3 s) in words that say so; a run with no bound, or whose process never started, is not judged."""
    lost = Outcome(None, b"", b"", error=ClientFailure("SessionLost", "session 7 lost: the server refused it"))
    late = Outcome(None, b"", b"", error=ClientFailure("TransportError", "gave up reconnecting at the deadline"))
    vague = Outcome(None, b"", b"", error=ClientFailure("TransportError", "connection closed"))

    def run(outcome: Outcome, end_s: float, bound: float | None = 3.0) -> SubjectRun:
        return SubjectRun(1, RunRequest(["seq", "3"], "file:///scratch"), 0, int(end_s * 1e9), outcome,
                          session_lost_within_s=bound)

    back = [int(2e9)]
    assert check_session_lost_journal_free([run(lost, 2.5)], {1: 1}, back) == []
    (slow,) = check_session_lost_journal_free([run(late, 10.0)], {1: 1}, back)
    assert "reported it 8.0 s after the restarted server was back (journal-free), over the test's bound 3 s" \
        in slow.message
    (unsaid,) = check_session_lost_journal_free([run(vague, 2.5)], {1: 1}, back)
    assert "the client's error does not say so" in unsaid.message
    (success,) = check_session_lost_journal_free([run(Outcome(0, b"", b""), 2.5)], {1: 1}, back)
    assert "the client reported success" in success.message
    assert check_session_lost_journal_free([run(late, 10.0, bound=None)], {1: 1}, back) == []
    assert check_session_lost_journal_free([run(late, 10.0)], {1: 0}, back) == []
    assert check_session_lost_journal_free([run(late, 10.0)], {1: 1}, []) == []


class _Seen:
    """Stands in for ``exec_subject``: what ``landed_journal_free`` reads and writes."""

    def __init__(self, connections: int | None) -> None:
        self.connections = connections
        self.notes: dict[str, str] = {}

    def client_connections(self) -> int | None:
        return self.connections

    def unchecked(self, what: str, reason: str) -> None:
        self.notes[what] = reason


def test_a_cut_that_did_not_land_fails_when_the_relay_saw_the_connections() -> None:
    from pytest_execserver.suites.chaos.test_cuts import landed_journal_free

    with pytest.raises(AssertionError, match="the cut did not land: the relay saw 1 client websocket"):
        landed_journal_free(_Seen(1))  # type: ignore[arg-type]
    landed, unknown = _Seen(2), _Seen(None)
    landed_journal_free(landed)  # type: ignore[arg-type]
    landed_journal_free(unknown)  # type: ignore[arg-type]
    assert set(landed.notes) == {"session_resumed"} and set(unknown.notes) == {"cut_landed", "session_resumed"}
