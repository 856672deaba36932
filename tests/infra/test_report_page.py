"""The HTML report page: latency bars per fault and mode, and the invariant matrix."""

from __future__ import annotations

import json
import re
from pathlib import Path

from pytest_execserver.report.page import latency_by_fault_and_mode, main, render

REPORT = {
    "header": {"seed": 7, "server": "ref"},
    "matrix": {
        "latency": {"ordered_output": {"pass": 2, "fail": 0}},
        "disconnect": {"recovery": {"pass": 1, "fail": 1}},
    },
    "tests": [
        {"outcome": "passed", "faults": ["latency"], "mode": "event-stream", "durations": {"process": [10, 12, 30.0]}},
        {"outcome": "passed", "faults": ["latency"], "mode": "legacy-read", "durations": {"process": [20.0, 25.0]}},
        {"outcome": "failed", "faults": ["disconnect"], "mode": "event-stream", "durations": {"process": [99.0]}},
    ],
}


def test_groups_samples_by_fault_and_mode() -> None:
    groups = latency_by_fault_and_mode(REPORT)["process"]
    assert groups[("latency", "event-stream")] == {"n": 3, "p50": 12.0, "p95": 30.0}
    assert groups[("latency", "legacy-read")]["p50"] == 20.0
    assert groups[("disconnect", "event-stream")]["n"] == 1


def test_page_is_self_contained_and_shows_every_group() -> None:
    page = render(REPORT)
    assert "<script" not in page and "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert page.count("<svg") == 1
    for label in ("latency · event-stream", "latency · legacy-read", "disconnect · event-stream"):
        assert label in page
    assert re.search(r'class="fail">1 / 1<', page)
    assert "1 not passed" in page


def test_cli_writes_html_beside_the_json(tmp_path: Path) -> None:
    report = tmp_path / "chaos.json"
    report.write_text(json.dumps(REPORT))
    assert main([str(report)]) == 0
    assert (tmp_path / "chaos.html").read_text().startswith("<!doctype html>")


def test_long_fault_combinations_get_short_distinct_labels() -> None:
    from pytest_execserver.report.page import _short_label

    a = _short_label("bandwidth+disconnect+down+latency+receiver_lag+slicer", "event-stream")
    b = _short_label("bandwidth+latency+slicer", "legacy-read")
    c = _short_label("disconnect+down+latency", "legacy-read")
    assert a == "bw+cut+down+lat+lag+slc · event-stream"
    assert len({a, b, c}) == 3 and all(len(x) <= 38 for x in (a, b, c))
    assert _short_label("latency", "event-stream") == "latency · event-stream"
