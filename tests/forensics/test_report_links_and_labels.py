"""The HTML report page: failing tests link their timelines and shrunk schedules; fault-combination labels
end before the bars (they used to run into them)."""

from __future__ import annotations

import re
from pathlib import Path

from pytest_execserver.report import page as report_page
from pytest_execserver.report.page import render

LONG = ["bandwidth", "disconnect", "down", "latency", "receiver_lag", "slicer"]
CHAR_PX = 7.2  # a generous average width of a 12 px sans-serif character
LABEL = r'<text x="([\d.]+)" y="[\d.]+" font-size="12" text-anchor="end"><title>[^<]*</title>([^<]*)</text>'


def _report(tmp_path: Path) -> dict[str, object]:
    folder = tmp_path / "execserver-artifacts" / "test_x.py_test_a"
    return {"header": {}, "matrix": {}, "tests": [
        {"outcome": "passed", "faults": LONG, "mode": "event-stream", "durations": {"process": [5.0]}},
        {"outcome": "passed", "faults": ["latency", "slicer"], "mode": "legacy-read", "durations": {"process": [9.0]}},
        {"outcome": "failed", "nodeid": "test_x.py::test_a", "faults": ["disconnect"], "mode": "event-stream",
         "artifacts": {"timeline": str(folder / "timeline.svg"), "history": str(folder / "history.jsonl"),
                       "shrunk_schedule": str(folder / "shrunk-schedule.txt")},
         "shrink": {"marker": "@pytest.mark.fault_schedule(Fault('disconnect', at_ms=650, hold_ms=10, mode='reset'))"}},
    ]}


def test_failing_tests_link_their_timeline_relative_to_the_page(tmp_path: Path) -> None:
    page = render(_report(tmp_path), tmp_path)
    assert 'href="execserver-artifacts/test_x.py_test_a/timeline.svg"' in page
    assert 'href="execserver-artifacts/test_x.py_test_a/shrunk-schedule.txt"' in page
    assert "@pytest.mark.fault_schedule(Fault(&#x27;disconnect&#x27;, at_ms=650" in page


def test_no_failing_section_when_everything_passed(tmp_path: Path) -> None:
    report = _report(tmp_path)
    report["tests"] = report["tests"][:2]  # type: ignore[index]
    assert "Failing tests" not in render(report, tmp_path)


def test_labels_end_before_the_bars_start(tmp_path: Path) -> None:
    page = render(_report(tmp_path), tmp_path)
    labels = re.findall(LABEL, page)
    assert len(labels) == 2
    for x, text in labels:
        assert float(x) < report_page._LABEL_WIDTH  # anchored at its end, left of the bars
        assert len(text) * CHAR_PX <= float(x), f"label {text!r} is too wide for its column"
