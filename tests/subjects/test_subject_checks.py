"""The client checks over hand-written journal records (no server): each fires on its violation only."""

from __future__ import annotations

import base64
from typing import Any

from pytest_execserver.subjects.base import Outcome, RunRequest
from pytest_execserver.subjects.checks import SubjectRun, check_subject, phase_samples

MS = 1_000_000
REQ = RunRequest(["seq", "1", "3"], "file:///s")


def _out(seq: int, data: bytes, stream: str = "stdout", t: int = 3) -> dict[str, Any]:
    return {"t": t * MS, "kind": "proc_output", "session": "S", "process": "p", "seq": seq, "stream": stream,
            "data_b64": base64.b64encode(data).decode()}


def _journal(*extra: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {"t": 0, "kind": "conn_open", "conn": 1, "peer": "127.0.0.1:1"},
        {"t": 1 * MS, "kind": "session", "conn": 1, "session": "S", "resumed": False},
        {"t": 2 * MS, "kind": "frame", "conn": 1, "dir": "in", "method": "process/start",
         "params": {"processId": "p"}},
        {"t": 2 * MS, "kind": "proc_start", "session": "S", "process": "p", "argv": list(REQ.argv), "cwd": "",
         "tty": False, "pid": 9},
        _out(1, b"1\n2\n"), _out(2, b"3\n"),
        {"t": 4 * MS, "kind": "proc_exited", "session": "S", "process": "p", "seq": 3, "exit_code": 0},
        {"t": 5 * MS, "kind": "proc_closed", "session": "S", "process": "p", "seq": 4},
        *extra,
    ]


def _run(stdout: bytes = b"1\n2\n3\n", error: Any = None, exit_code: int | None = 0) -> SubjectRun:
    return SubjectRun(1, REQ, 1 * MS, 10 * MS, Outcome(exit_code, stdout, b"", error))


def test_a_correct_run_passes_and_feeds_the_phases() -> None:
    assert check_subject(_journal(), [_run()]) == []
    phases = {(s.phase, (s.end_ns - s.begin_ns) / MS) for s in phase_samples(_journal(), [_run()])}
    assert phases == {("initialize", 1.0), ("first_output", 1.0), ("process", 8.0)}


def test_a_lost_chunk_names_the_process_offset_and_seq() -> None:
    [v] = check_subject(_journal(), [_run(b"1\n2\n")])
    assert v.check == "delivered_output"
    assert "process 'p': delivered stdout differs" in v.message and "first difference at byte 4 (in the chunk " \
        "with seq 2)" in v.message


def test_a_failed_run_may_deliver_a_prefix_but_not_other_bytes() -> None:
    from pytest_execserver.subjects.base import ClientFailure

    failure = ClientFailure("TransportError", "gone")
    assert check_subject(_journal(), [_run(b"1\n", failure, None)]) == []
    [v] = check_subject(_journal(), [_run(b"1\nX", failure, None)])
    assert "is not a prefix of" in v.message


def test_a_second_start_after_a_reconnect() -> None:
    again = {"t": 6 * MS, "kind": "frame", "conn": 2, "dir": "in", "method": "process/start",
             "params": {"processId": "p2"}}
    [v] = check_subject(_journal(again), [_run()])
    assert v.check == "started_once" and "sent 2 times after a reconnect" in v.message and "'p2'" in v.message


def test_a_new_session_while_a_process_runs() -> None:
    records = [r for r in _journal() if r["kind"] != "proc_closed"]
    records += [{"t": 6 * MS, "kind": "conn_close", "conn": 1, "code": None},
                {"t": 7 * MS, "kind": "session", "conn": 2, "session": "T", "resumed": False}]
    [v] = check_subject(records, [_run()])
    assert v.check == "resumed_session" and "new session T on connection 2" in v.message


def test_a_resumed_session_is_fine() -> None:
    records = _journal({"t": 6 * MS, "kind": "session", "conn": 2, "session": "S", "resumed": True})
    assert check_subject(records, [_run()]) == []


def test_stdin_written_twice_with_different_write_ids() -> None:
    def write(conn: int, wid: str) -> dict[str, Any]:
        return {"t": 3 * MS, "kind": "frame", "conn": conn, "dir": "in", "method": "process/write",
                "params": {"processId": "p", "chunk": "aGk=", "writeId": wid}}

    assert check_subject(_journal(write(1, "w"), write(2, "w")), [_run()]) == []  # same writeId: a replay
    [v] = check_subject(_journal(write(1, "w"), write(2, "w2")), [_run()])
    assert v.check == "writes_idempotent" and "writeId 'w2'" in v.message


def test_a_hang_is_reported_with_its_deadline() -> None:
    run = SubjectRun(1, REQ, 0, 1, hang="client 'x' hung: no reply within 6.0 s", deadline_s=6.0)
    [v] = check_subject([], [run])
    assert v.check == "reported_in_time" and "6.0 s" in v.message


def _merged_journal() -> list[dict[str, Any]]:
    records = _journal()
    records[5] = _out(2, b"err\n", "stderr")
    records.insert(6, _out(3, b"3\n"))
    return records


def test_a_merging_client_is_compared_through_its_view() -> None:
    from pytest_execserver.subjects.codex import CodexSubject

    view = CodexSubject.delivered_view
    merged = b"1\n2\nerr\n3\n"
    assert check_subject(_merged_journal(), [_run(merged)], view) == []
    # per stream (the default view), the same delivery is a mismatch: stdout has no stderr in it
    assert {v.check for v in check_subject(_merged_journal(), [_run(merged)])} == {"delivered_output"}
    [v] = check_subject(_merged_journal(), [_run(b"1\n2\n3\n")], view)
    assert "first difference at byte 4 (in the chunk with seq 2)" in v.message, v.message


def test_truncation_is_reported_as_such_not_as_a_mismatch() -> None:
    run = SubjectRun(1, REQ, 1 * MS, 10 * MS, Outcome(0, b"Warning: truncated output\n1\n", b"", truncated=True))
    [v] = check_subject(_journal(), [run])
    assert "the client truncated the output" in v.message and "differs" not in v.message


def _restarted(run_end_ms: int, error: Any, *, resumes: int = 1) -> tuple[list[dict[str, Any]], SubjectRun]:
    """The server restarted at 3 ms (the process started at 2 ms); the client tried ``resumes`` resumes."""
    records = [r for r in _journal() if r["t"] <= 3 * MS and r["kind"] != "proc_output"]
    records.append({"t": 3 * MS, "kind": "server_restart"})
    for i in range(resumes):
        records.append({"t": (100 + 10 * i) * MS, "kind": "frame", "conn": 2 + i, "dir": "in", "method": "initialize",
                        "params": {"resumeSessionId": "S"}})
    run = SubjectRun(1, REQ, 1 * MS, run_end_ms * MS, Outcome(None, b"", b"", error), session_lost_within_s=3.0)
    return records, run


def test_a_lost_session_reported_at_once_passes_and_late_or_unnamed_fails() -> None:
    from pytest_execserver.subjects.base import ClientFailure

    lost = ClientFailure("SessionLost", "session S lost: the server refused to resume it")
    records, prompt = _restarted(200, lost)
    assert check_subject(records, [prompt]) == []
    records, late = _restarted(9000, ClientFailure("TransportError", "gave up at the deadline"), resumes=40)
    [v] = check_subject(records, [late])
    assert v.check == "session_lost_reported" and "reported it 8.9 s after the restarted server was first asked " \
        "to resume the session (40 resume attempts), over the test's bound 3 s" in v.message
    records, vague = _restarted(200, ClientFailure("TransportError", "connection reset"))
    [v] = check_subject(records, [vague])
    assert "does not say so: TransportError: connection reset" in v.message
    ok = SubjectRun(1, REQ, 1 * MS, 200 * MS, Outcome(0, b"", b""), session_lost_within_s=3.0)
    [v] = check_subject(records, [ok])
    assert "the client reported success (exit code 0)" in v.message
    unbounded = SubjectRun(1, REQ, 1 * MS, 9000 * MS, Outcome(None, b"", b"", lost))  # no bound stated: not checked
    assert check_subject(records, [unbounded]) == []


def test_memory_growth_over_the_earlier_runs_is_bounded() -> None:
    mib = 1024 * 1024

    def run(index: int, peak: int, bound: int | None = 8 * mib) -> SubjectRun:
        return SubjectRun(index, REQ, 1 * MS, 10 * MS, Outcome(0, b"1\n2\n3\n", b""), memory_bound=bound,
                          memory_peak=peak, memory_what="resident memory")

    assert check_subject(_journal(), [run(1, 40 * mib), run(2, 47 * mib)]) == []
    [v] = check_subject(_journal(), [run(1, 40 * mib), run(2, 70 * mib)])
    assert v.check == "bounded_memory" and "resident memory peaked at 70.0 MiB, 30.0 MiB over its peak in the " \
        "earlier runs (40.0 MiB): the test's bound is 8.0 MiB" in v.message
    assert check_subject(_journal(), [run(1, 70 * mib)]) == []  # nothing earlier to compare with
