"""The report's sandbox_denial cells say how the server reported ``sandboxDenied``: true, false or absent."""

from __future__ import annotations

from pytest_execserver.checks.invariants import sandbox_denial_reports
from pytest_execserver.report.summary import Summary
from tests.plugin.engine.hist import H


def test_each_process_counts_once_by_what_its_exited_said_on_the_wire() -> None:
    h = H().start("p1").exited(2, "p1", code=1, denied=True).exited(2, "p1", code=1, denied=True)
    h.start("p2").exited(1, "p2", denied=False)
    h.start("p3").exited(1, "p3", denied="absent")
    assert sandbox_denial_reports(h.events) == {"true": 1, "false": 1, "absent": 1}
    assert sandbox_denial_reports(H().start("p1").events) == {"true": 0, "false": 0, "absent": 0}


def test_summary_shows_them_per_fault_in_the_terminal_and_the_json() -> None:
    summary = Summary()
    summary.add({"faults": ["latency"], "invariants": {"sandbox_denial": []},
                 "sandbox_denied_on_wire": {"true": 2, "false": 1, "absent": 0}}, "passed")
    summary.add({"faults": [], "invariants": {"sandbox_denial": []},
                 "sandbox_denied_on_wire": {"true": 0, "false": 0, "absent": 3}}, "passed")
    assert summary.to_json({})["sandbox_denied_on_wire"] == {
        "latency": {"true": 2, "false": 1, "absent": 0},
        "none": {"true": 0, "false": 0, "absent": 3},
    }
    line = next(s for s in summary.lines() if s.startswith("sandbox_denial, "))
    assert line.endswith("latency 2/1/0, none 0/0/3")
