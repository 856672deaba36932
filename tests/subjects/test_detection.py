"""Detection times of a silently dead connection (subjects/detection.py) and their place in the report."""

from __future__ import annotations

from pytest_execserver.report.page import render
from pytest_execserver.report.summary import Summary
from pytest_execserver.subjects.base import ClientFailure, Outcome, RunRequest
from pytest_execserver.subjects.checks import SubjectRun
from pytest_execserver.subjects.detection import detection_times

MS = 1_000_000


def _run(begin_ms: int, end_ms: int, outcome: Outcome | None, hang: str | None = None) -> SubjectRun:
    return SubjectRun(0, RunRequest(["seq", "3"], "file:///scratch"), begin_ms * MS, end_ms * MS, outcome, hang)


def test_noticed_at_the_first_new_connection_and_answered_at_the_run_end() -> None:
    records = [{"kind": "conn_open", "t": 10 * MS}, {"kind": "conn_open", "t": 3500 * MS},
               {"kind": "conn_open", "t": 4000 * MS}]
    failed = Outcome(None, b"1\n", b"", ClientFailure("TransportError", "already attached"))
    (entry,) = detection_times([("blackhole", 1000 * MS)], records, [_run(500, 6500, failed)])
    assert entry == {"fault": "blackhole", "noticed_ms": 2500.0, "answered_ms": 5500.0, "answer": "TransportError"}


def test_never_noticed_and_a_hang_and_other_kinds_ignored() -> None:
    records = [{"kind": "conn_open", "t": 10 * MS}]
    faults = [("mute_pongs", 1000 * MS), ("close", 1200 * MS), ("blackhole", 90_000 * MS)]
    runs = [_run(500, 30_000, None, hang="no answer in 25.0 s")]
    entries = detection_times(faults, records, runs)
    assert entries == [
        {"fault": "mute_pongs", "noticed_ms": None, "answered_ms": 29_000.0, "answer": "hang"},
        {"fault": "blackhole", "noticed_ms": None, "answered_ms": None, "answer": None},  # no run in flight
    ]


def test_the_report_shows_each_clients_detection_times() -> None:
    summary = Summary()
    for client, noticed in (("ours", [900.0, 950.0, 1000.0]), ("codex", [None])):
        for ms in noticed:
            entry = {"fault": "blackhole", "noticed_ms": ms, "answered_ms": 7600.0, "answer": "ok"}
            summary.add({"client": {"name": client, "checks": {}, "detection": [entry]}}, "passed")
    stats = summary.to_json({})["detection_ms"]
    assert stats["ours"]["blackhole"]["noticed"] == {"p50": 950.0, "max": 1000.0}
    assert stats["codex"]["blackhole"]["noticed"] is None and stats["codex"]["blackhole"]["not_noticed"] == 1
    lines = "\n".join(summary.lines())
    assert "ours blackhole: n=3; noticed p50 950 max 1000" in lines
    assert "codex blackhole: n=1; noticed never" in lines
    page = render(summary.to_json({}))
    assert "Dead-connection detection per client" in page and "noticed p50 950 max 1000" in page
