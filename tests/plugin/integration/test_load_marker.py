"""``@pytest.mark.load`` and the ``exec_load`` fixture: thresholds, latency_budget over the whole run,
faults through exec_proxy, and runs merged across pytest-xdist workers."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

Inner = Callable[..., pytest.RunResult]  # the `inner` fixture (tests/plugin/conftest.py)

pytestmark = pytest.mark.timeout(150)

COMMON = ("--execserver-toxiproxy", "embedded")


def _report(path: Path) -> dict[str, object]:
    data = json.loads(path.read_text())
    assert isinstance(data, dict)
    return data


def test_load_runs_and_passes_its_thresholds(inner: Inner, pytester: pytest.Pytester, tmp_path: Path) -> None:
    pytester.makepyfile('''
import pytest

@pytest.mark.load(clients=4, processes_per_client=3, p95_ms=20000, thresholds=["operations==12"])
async def test_load(exec_load):
    result = await exec_load()
    assert result.operations == 12 and result.errors == 0
''')
    out = tmp_path / "r.json"
    result = inner(*COMMON, "--execserver-report", out)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["load *.py::test_load: merged 1 run(s) on main: 4 clients: 12 ok, 0 errors*"])
    data = _report(out)
    (test,) = data["tests"]  # type: ignore[misc]
    (run,) = test["load"]
    assert run["thresholds"] == ["errors==0", "operations==12", "p95_ms<=20000"] and run["failures"] == []
    (merged,) = data["header"]["load"].values()  # type: ignore[index]
    assert merged["operations"] == 12 and merged["runs"] == 1


def test_failed_threshold_fails_the_test(inner: Inner, pytester: pytest.Pytester) -> None:
    pytester.makepyfile('''
import pytest

@pytest.mark.load(clients=2, processes_per_client=2, thresholds=["throughput>=100000"])
async def test_load(exec_load):
    await exec_load()
''')
    result = inner(*COMMON)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*execserver checks failed*", "*load thresholds failed (2 clients: 4 ok*",
                                 "*throughput>=100000 failed: measured *"])


def test_latency_budget_and_faults_apply_to_the_whole_run(inner: Inner, pytester: pytest.Pytester,
                                                          tmp_path: Path) -> None:  # fmt: skip
    """The load's clients connect through exec_proxy (a 50 ms latency toxic each way shows in p50) and record
    into the test's history: a latency_budget on ``process`` counts every operation of the run."""
    pytester.makepyfile('''
import pytest

@pytest.mark.fault("latency", ms=50)
@pytest.mark.latency_budget(phase="process", max=1)
@pytest.mark.load(clients=3, processes_per_client=2, thresholds=["p50_ms>=100"])
async def test_load(exec_load):
    await exec_load()
''')
    out = tmp_path / "r.json"
    result = inner(*COMMON, "--execserver-report", out)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*latency budget*process*"])
    (test,) = _report(out)["tests"]  # type: ignore[misc]
    (run,) = test["load"]
    assert run["failures"] == [] and run["p50_ms"] >= 100, run  # the fault applied to the load's traffic
    (budget,) = test["budgets"]
    assert budget["ok"] is False and budget["stats"]["n"] == 6, budget  # every operation of the run


def test_runs_merge_across_xdist_workers(inner: Inner, pytester: pytest.Pytester, tmp_path: Path) -> None:
    pytester.makepyfile('''
import pytest

@pytest.mark.parametrize("shard", range(4))
@pytest.mark.load(clients=2, processes_per_client=2, group="spread")
async def test_share(exec_load, shard):
    await exec_load()
''')
    out = tmp_path / "r.json"
    result = inner(*COMMON, "-n", "2", "--execserver-report", out, subprocess=True)
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(["load spread: merged 4 run(s) on gw*: 8 clients: 16 ok, 0 errors*"])
    merged = _report(out)["header"]["load"]["spread"]  # type: ignore[index]
    assert merged["runs"] == 4 and merged["operations"] == 16 and merged["clients"] == 8
    assert set(merged["workers"]) <= {"gw0", "gw1"} and merged["latency_hdr"].startswith("HISTFAA")
    parts = [run for t in _report(out)["tests"] for run in t["load"]]  # type: ignore[attr-defined]
    assert merged["max_ms"] == pytest.approx(max(p["max_ms"] for p in parts), rel=0.01)


@pytest.mark.parametrize(("marker", "message"), [
    ("load(clients=0, processes_per_client=1)", "clients must be a positive integer"),
    ("load(clients=2)", "give processes_per_client=... or duration_s=..."),
    ("load(clients=2, duration_s=1, thresholds=['p95<=3'])", "unknown metric 'p95'"),
    ("load(clients=2, duration_s=1, thresholds=['p95_ms=<3'])", "is not METRIC OP NUMBER"),
    ("load(clients=2, duration_s=1, rate=-1)", "rate must be a positive number"),
    ("load(clients=2, duration_s=1, users=3)", "unknown argument(s) users"),
])  # fmt: skip
def test_bad_load_marker_is_a_usage_error(inner: Inner, pytester: pytest.Pytester, marker: str,
                                          message: str) -> None:  # fmt: skip
    pytester.makepyfile(f"import pytest\n\n@pytest.mark.{marker}\nasync def test_x(exec_load):\n    pass\n")
    result = inner()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*test_x: @pytest.mark.load: *{message}*"])


def test_load_marker_needs_exec_load(inner: Inner, pytester: pytest.Pytester) -> None:
    pytester.makepyfile("import pytest\n\n@pytest.mark.load(clients=1, duration_s=1)\n"
                        "def test_x(exec_server):\n    pass\n")
    result = inner()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*test_x: @pytest.mark.load needs the exec_load fixture*"])


def test_html_report_shows_the_merged_load_and_links_the_curves(inner: Inner, pytester: pytest.Pytester,
                                                                tmp_path: Path) -> None:  # fmt: skip
    from pytest_execserver.report.page import write_page

    pytester.makepyfile('''
import pytest
from pytest_execserver.glue.load_state import note_curves

@pytest.mark.load(clients=2, processes_per_client=1, group="tiny")
async def test_load(exec_load, request, tmp_path):
    await exec_load()
    picture = request.config.rootpath / "reports" / "load_curves.png"
    picture.parent.mkdir(exist_ok=True)
    picture.write_bytes(b"not really a png")
    note_curves(request.config, picture)  # what the curves benchmark does after plotting
''')
    out = pytester.path / "reports" / "r.json"
    inner(*COMMON, "--execserver-report", out).assert_outcomes(passed=1)
    assert _report(out)["header"]["load_curves"] == str(pytester.path / "reports" / "load_curves.png")  # type: ignore[index]
    page = write_page(out).read_text()
    assert '<img src="load_curves.png"' in page and "<td>tiny</td><td>1</td><td>2</td><td>2</td><td>0</td>" in page
    assert "HISTFAA" not in page  # the encoded histograms stay in the JSON


def test_html_report_without_load_has_no_load_section() -> None:
    from pytest_execserver.report.page import render

    assert "Load (merged" not in render({"header": {"seed": 1}, "tests": []})
