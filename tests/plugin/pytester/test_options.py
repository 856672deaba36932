"""Options, their ini twins, the report header and UsageErrors for bad values (no server needed)."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

Inner = Callable[..., pytest.RunResult]  # the `inner` fixture (tests/plugin/conftest.py)

HEADER_TEST = "def test_ok():\n    pass\n"


def test_loads_with_autoload_disabled(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    pytester.makepyfile(test_a="async def test_a(exec_history, exec_mode):\n    assert exec_mode == 'event-stream'\n")
    pytester.makeini("[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n")
    result = pytester.runpytest_subprocess("-p", "execserver", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["execserver: seed=* server=ref toxiproxy=* mode=event-stream*"])
    markers = pytester.runpytest_subprocess("-p", "execserver", "--markers")
    markers.stdout.fnmatch_lines([
        "@pytest.mark.fault: fault(kind, **params)*latency, bandwidth, slicer, disconnect, down, receiver_lag*",
        "@pytest.mark.chaos: chaos(*kinds_or_Faults): run the test once under each fault*",
        "@pytest.mark.fault_schedule: fault_schedule(*kinds_or_Faults, seed=None, duration_ms=2000*",
        "@pytest.mark.exec_mode: exec_mode(*modes)*event-stream*legacy-read*",
        "@pytest.mark.latency_budget: latency_budget(phase=..., p50=None, p95=None, p99=None, max=None, "
        "min_samples=1)*connect*initialize*rpc*process*first_output*",
    ])


def test_help_lists_every_option(inner: Inner) -> None:
    result = inner("--help")
    for opt in ("--execserver-server", "--execserver-toxiproxy", "--execserver-seed", "--execserver-mode",
                "--execserver-budget-scale", "--execserver-report", "--execserver-unconfined",
                "--execserver-artifacts"):
        result.stdout.fnmatch_lines([f"*{opt}*"])
    for ini in ("execserver_server", "execserver_toxiproxy", "execserver_seed", "execserver_mode",
                "execserver_budget_scale", "execserver_report", "execserver_unconfined", "execserver_artifacts"):
        result.stdout.fnmatch_lines([f"*{ini} *"])


def test_header_shows_settings(inner: Inner, pytester: pytest.Pytester) -> None:
    pytester.makepyfile(HEADER_TEST)
    result = inner("--execserver-seed", "1234", "--execserver-server", "ref --inject-bug reorder",
                   "--execserver-toxiproxy", "embedded", "--execserver-mode", "legacy-read",
                   "--execserver-budget-scale", "2.5")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([
        "execserver: seed=1234 server=ref --inject-bug reorder toxiproxy=embedded mode=legacy-read "
        "budget-scale=2.5 topology=direct confinement=* (*)"
    ])


def test_ini_twins(inner: Inner, pytester: pytest.Pytester) -> None:
    pytester.makepyfile(HEADER_TEST)
    result = inner(ini="execserver_seed = 99\nexecserver_mode = both\nexecserver_toxiproxy = http://127.0.0.1:1\n"
                       "execserver_budget_scale = 3\nexecserver_server = codex\n")
    result.stdout.fnmatch_lines(["execserver: seed=99 server=codex toxiproxy=http://127.0.0.1:1 mode=both "
                                 "budget-scale=3 *"])


def test_budget_scale_precedence(inner: Inner, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    pytester.makepyfile(HEADER_TEST)
    monkeypatch.setenv("EXECSERVER_BUDGET_SCALE", "4")
    inner(ini="execserver_budget_scale = 3\n").stdout.fnmatch_lines(["*budget-scale=4 *"])
    inner("--execserver-budget-scale", "5").stdout.fnmatch_lines(["*budget-scale=5 *"])
    monkeypatch.delenv("EXECSERVER_BUDGET_SCALE")
    inner().stdout.fnmatch_lines(["*budget-scale=3 *"])


def test_random_seed_is_shown(inner: Inner, pytester: pytest.Pytester) -> None:
    pytester.makepyfile(HEADER_TEST)
    inner().stdout.fnmatch_lines(["execserver: seed=* (random) *"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--execserver-seed", "abc"], "--execserver-seed: seed must be a non-negative integer, got 'abc'"),
        (["--execserver-seed", "-3"], "--execserver-seed: seed must be a non-negative integer, got '-3'"),
        (["--execserver-mode", "fast"], "--execserver-mode: unknown mode 'fast'; use event-stream, legacy-read, both"),
        (["--execserver-toxiproxy", "docker"], "--execserver-toxiproxy: 'docker' is not a Toxiproxy backend*"),
        (["--execserver-budget-scale", "0"], "--execserver-budget-scale: budget scale must be a positive number*"),
        (["--execserver-budget-scale", "x"], "--execserver-budget-scale: budget scale must be a positive number*"),
        (["--execserver-server", ""], "--execserver-server: empty server; use ref, codex or a command"),
        (["--execserver-server", "ref 'unterminated"], "--execserver-server: cannot parse*"),
    ],
)
def test_bad_options(inner: Inner, pytester: pytest.Pytester, args: list[str], message: str) -> None:
    pytester.makepyfile(HEADER_TEST)
    result = inner(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: {message}"])


def test_bad_ini_and_env(inner: Inner, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    pytester.makepyfile(HEADER_TEST)
    result = inner(ini="execserver_mode = sideways\n")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: ini option execserver_mode: unknown mode 'sideways'*"])
    monkeypatch.setenv("EXECSERVER_BUDGET_SCALE", "-1")
    result = inner(ini="")
    result.stderr.fnmatch_lines(["ERROR: environment variable EXECSERVER_BUDGET_SCALE: budget scale must be*"])


def test_unconfined_is_loud(inner: Inner, pytester: pytest.Pytester) -> None:
    pytester.makepyfile(HEADER_TEST)
    result = inner("--execserver-unconfined")
    result.stdout.fnmatch_lines([
        "execserver: seed=* confinement=none (--execserver-unconfined)",
        "execserver: WARNING: pytest-execserver: --execserver-unconfined: servers run WITHOUT confinement*",
        "*WARNING: pytest-execserver: --execserver-unconfined*",
    ])
    assert "ExecServerUnconfinedWarning" in result.stdout.str()
    ini = inner(ini="execserver_unconfined = true\n")
    ini.stdout.fnmatch_lines(["execserver: seed=* confinement=none (--execserver-unconfined)"])


def test_report_json_written(inner: Inner, pytester: pytest.Pytester) -> None:
    pytester.makepyfile("async def test_ok(exec_history):\n    exec_history.record('invoke', 'connect', 'c1')\n"
                        "    exec_history.record('ok', 'connect', 'c1')\n")
    out = pytester.path / "out" / "report.json"
    result = inner("--execserver-report", out, "--execserver-seed", "7")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([f"report written to {out}"])
    data = json.loads(out.read_text())
    assert data["header"]["seed"] == 7 and data["header"]["server"] == "ref"
    assert data["matrix"]["none"]["ordered_output"] == {"pass": 1, "fail": 0}
    assert data["latency_ms"]["connect"]["n"] == 1
    assert data["tests"][0]["outcome"] == "passed"
    ini = pytester.path / "ini-report.json"
    inner(ini=f"execserver_report = {ini}\n").assert_outcomes(passed=1)
    assert json.loads(ini.read_text())["tests"]
