"""The report's sandbox_denial column shows tests where the server reported ``sandboxDenied: true`` and
tests where it reported nothing (an older server), and the result is right in both (issue 11)."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

Inner = Callable[..., pytest.RunResult]  # the `inner` fixture (tests/plugin/conftest.py)

pytestmark = pytest.mark.timeout(90)

TEST = '''
from pytest_execserver.suites.chaos.ours.test_sandbox_denial import (
    test_sandbox_denial_reaches_the_result_under_each_fault,
)
'''


@pytest.mark.parametrize(("server", "wire"), [
    ("ref", {"true": 2, "false": 2, "absent": 0}),
    ("ref --omit-sandbox-denied", {"true": 0, "false": 0, "absent": 4}),
])
def test_report_says_what_the_server_reported(inner: Inner, pytester: pytest.Pytester, server: str,
                                             wire: dict[str, int]) -> None:
    pytester.makepyfile(TEST)
    report = pytester.path / "report.json"
    result = inner("--execserver-server", server, "--execserver-toxiproxy", "embedded", "--execserver-mode", "both",
                   "--execserver-report", report, "-k", "latency")
    outcomes = result.parseoutcomes()
    if outcomes.get("skipped"):
        pytest.skip("the reference server cannot enforce sandboxes here (no bubblewrap inside its confinement)")
    result.assert_outcomes(passed=2)
    data = json.loads(report.read_text())
    assert data["sandbox_denied_on_wire"] == {"latency": wire}
    assert data["matrix"]["latency"]["sandbox_denial"] == {"pass": 2, "fail": 0}
    result.stdout.fnmatch_lines([f"sandbox_denial, sandboxDenied on the wire (true/false/absent): latency "
                                 f"{wire['true']}/{wire['false']}/{wire['absent']}"])
