"""Markers: good ones take effect, malformed ones are UsageErrors with a clear message (no server)."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

Inner = Callable[..., pytest.RunResult]  # the `inner` fixture (tests/plugin/conftest.py)


@pytest.mark.parametrize(
    ("marker", "message"),
    [
        ("fault('lag')", "unknown fault kind 'lag'; known kinds: latency, bandwidth, slicer, disconnect, down, "
                         "receiver_lag, drop, delay, duplicate, reorder, corrupt, inject, close, cut, blackhole, "
                         "mute_pongs, server_restart, server_pause, client_pause"),
        ("fault('drop')", "fault 'drop': missing required parameter 'on'"),
        ("fault('close', on='process/output', code=99)", "fault 'close': close code= must be an integer in "
                                                         "1000..4999, not 99"),
        ("fault('latency', ms=10, delay=3)", "fault 'latency': unknown parameter(s) delay; accepted: ms, jitter*"),
        ("fault('latency', ms='10')", "fault 'latency': parameter 'ms' must be a number of milliseconds, got '10'"),
        ("fault('latency', ms=-1)", "fault 'latency': parameter 'ms' must be >= 0 ms, got -1"),
        ("fault('latency')", "fault 'latency': missing required parameter 'ms'"),
        ("fault()", "expected exactly one positional argument (the kind*"),
        ("fault('disconnect', mode='explode')", "fault 'disconnect': parameter 'mode' must be one of reset, close, "
                                                "timeout; got 'explode'"),
        ("chaos()", "give at least one fault kind or Fault*"),
        ("chaos('nope')", "unknown fault kind 'nope'*"),
        ("chaos('latency', seed=3)", "takes faults only (kind names or Fault objects), got keyword(s) seed (a seeded "
                                     "schedule of faults over time is fault_schedule(*"),
        ("chaos('latency', 'latency')", "the same fault is given twice (latency-*"),
        ("fault_schedule()", "give at least one fault kind or Fault*"),
        ("fault_schedule('latency', speed=2)", "unknown argument(s) speed; accepted: count, duration_ms, seed"),
        ("fault_schedule('nope')", "unknown fault kind 'nope'*"),
        ("fault_schedule('down', seed=-1)", "seed must be a non-negative integer or None, got -1"),
        ("fault_schedule('down', duration_ms=0)", "duration_ms must be a positive integer (ms), got 0"),
        ("exec_mode('turbo')", "unknown mode 'turbo'; use event-stream, legacy-read, both"),
        ("exec_mode()", "give a mode: event-stream, legacy-read, both"),
        ("exec_mode(mode='legacy-read')", "takes mode names only, got keyword(s) mode"),
        ("latency_budget(phase='teleport', max=1)", "unknown latency phase 'teleport'; known phases: connect*"),
        ("latency_budget(phase='rpc', p95=-5)", "latency_budget('rpc'): p95 must be >= 0 ms, got -5"),
        ("latency_budget(phase='rpc', p95='fast')", "latency_budget('rpc'): p95 must be a number of ms, got 'fast'"),
        ("latency_budget(max=5)", "missing phase=...; phases: connect*"),
        ("latency_budget(phase='rpc', p90=5)", "unknown argument(s) p90; accepted: phase, p50, p95, p99, max*"),
        ("latency_budget(phase='rpc', max=5, min_samples=-1)", "*min_samples must be an integer >= 0, got -1"),
    ],
)
def test_malformed_marker_is_usage_error(inner: Inner, pytester: pytest.Pytester, marker: str, message: str) -> None:
    pytester.makepyfile(f"import pytest\n\n@pytest.mark.{marker}\ndef test_x():\n    pass\n")
    result = inner()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    name = marker.split("(")[0]
    result.stderr.fnmatch_lines([f"ERROR: test_malformed_marker_is_usage_error.py::test_x: @pytest.mark.{name}: "
                                 f"{message}"])


def test_bad_parametrized_mode(inner: Inner, pytester: pytest.Pytester) -> None:
    pytester.makepyfile("import pytest\n\n@pytest.mark.parametrize('exec_mode', ['fast'])\n"
                        "def test_x(exec_mode):\n    pass\n")
    result = inner()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: *test_x[[]fast[]]: parametrized exec_mode 'fast' is not a mode*"])


def test_exec_mode_marker_and_parametrization(inner: Inner, pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        def test_default(exec_mode):
            assert exec_mode == "event-stream"

        @pytest.mark.exec_mode("legacy-read")
        def test_one(exec_mode):
            assert exec_mode == "legacy-read"

        @pytest.mark.exec_mode("both")
        def test_both(exec_mode):
            pass

        @pytest.mark.exec_mode("legacy-read", "event-stream")
        def test_two(exec_mode):
            pass

        @pytest.mark.parametrize("exec_mode", ["legacy-read"])
        def test_own(exec_mode):
            assert exec_mode == "legacy-read"
        """
    )
    result = inner("-v")
    result.assert_outcomes(passed=7)
    result.stdout.fnmatch_lines_random([
        "*test_both[[]event-stream[]] PASSED*", "*test_both[[]legacy-read[]] PASSED*",
        "*test_two[[]legacy-read[]] PASSED*", "*test_two[[]event-stream[]] PASSED*",
    ])
    both = inner("--execserver-mode", "both", "-v", "-k", "default")
    both.assert_outcomes(passed=1, failed=1)
    both.stdout.fnmatch_lines_random(
        ["*test_default[[]legacy-read[]] FAILED*", "*test_default[[]event-stream[]] PASSED*"]
    )


CHAOS = """
import pytest
from pytest_execserver.faults.kinds import Fault

@pytest.mark.chaos("latency", "disconnect", Fault("slicer", average_size=3))
def test_each(exec_fault, exec_history):
    assert exec_fault is not None
    print("FAULT", exec_fault)

@pytest.mark.chaos(Fault("disconnect", mode="reset"), Fault("disconnect", mode="close"))
@pytest.mark.exec_mode("both")
def test_matrix(exec_fault, exec_mode):
    pass

@pytest.mark.chaos("down")
def test_not_requested(exec_history):
    pass
"""


def test_chaos_runs_once_per_fault(inner: Inner, pytester: pytest.Pytester) -> None:
    pytester.makepyfile(CHAOS)
    out = pytester.path / "r.json"
    result = inner("-v", "-s", "--execserver-report", out)
    result.assert_outcomes(passed=3 + 4 + 1)
    result.stdout.fnmatch_lines_random([
        "*::test_each[[]latency[]] FAULT Fault('latency', *ms=50)*",
        "*::test_each[[]disconnect[]] FAULT Fault('disconnect', hold_ms=150, mode='reset')*",
        "*::test_each[[]slicer[]] FAULT Fault('slicer', at_ms=0, average_size=3,*",
        "*::test_matrix[[]disconnect-mode=reset-event-stream[]] PASSED*",
        "*::test_matrix[[]disconnect-mode=close-legacy-read[]] PASSED*",
        "*::test_not_requested[[]down[]] PASSED*",
    ])
    records = {t["nodeid"].split("::")[1]: t for t in json.loads(out.read_text())["tests"]}
    assert records["test_each[latency]"]["faults"] == ["latency"]
    assert records["test_not_requested[down]"]["faults"] == ["down"]


SCHEDULE = """
import pytest
from pytest_execserver.faults.kinds import Fault

@pytest.mark.fault_schedule("latency", "disconnect", Fault("slicer", average_size=3), duration_ms=1200)
def test_chaos(exec_history):
    pass

@pytest.mark.fault_schedule("down", seed=5, count=2)
def test_fixed(exec_history):
    pass
"""


def test_fault_schedule_is_seeded(inner: Inner, pytester: pytest.Pytester) -> None:
    pytester.makepyfile(SCHEDULE)

    def schedules(seed: int) -> dict[str, object]:
        out = pytester.path / f"r{seed}.json"
        inner("--execserver-seed", seed, "--execserver-report", out).assert_outcomes(passed=2)
        return {t["nodeid"]: (t["seed"], t["schedule"]) for t in json.loads(out.read_text())["tests"]}

    a, b, c = schedules(1), schedules(1), schedules(2)
    assert a == b
    chaos_id = "test_fault_schedule_is_seeded.py::test_chaos"
    fixed_id = "test_fault_schedule_is_seeded.py::test_fixed"
    assert a[chaos_id] != c[chaos_id]
    assert a[fixed_id] == c[fixed_id] and a[fixed_id][0] == 5  # type: ignore[index]
    kinds = {s["fault"]["kind"] for s in a[chaos_id][1]}  # type: ignore[index]
    assert kinds == {"latency", "disconnect", "slicer"}


def test_printed_schedule_pasted_back_replays(inner: Inner, pytester: pytest.Pytester) -> None:
    pytester.makepyfile("import pytest\n\n@pytest.mark.fault_schedule('latency', 'disconnect', 'down', seed=11)\n"
                        "def test_x(exec_history):\n    assert False\n")
    result = inner("--execserver-seed", "42", "--execserver-artifacts", pytester.path / "arts",
                   "--execserver-report", pytester.path / "a.json")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*- execserver seed -*",
        "test seed 11; session seed 42 (rerun with --execserver-seed 42)",
        "schedule (paste into @pytest.mark.fault_schedule(...) to replay it):",
        "    Fault('*', at_ms=*),  # +*ms",
    ])
    lines = result.stdout.str().splitlines()
    start = lines.index("schedule (paste into @pytest.mark.fault_schedule(...) to replay it):") + 1
    pasted = "\n".join(line.split("  #")[0] for line in lines[start:] if line.startswith("    Fault("))
    pytester.makepyfile(test_replay="import pytest\nfrom pytest_execserver.faults.kinds import Fault\n\n"
                                    f"@pytest.mark.fault_schedule(\n{pasted}\n)\n"
                                    "def test_x(exec_history):\n    pass\n")
    inner("test_replay.py", "--execserver-report", pytester.path / "b.json").assert_outcomes(passed=1)
    original = json.loads((pytester.path / "a.json").read_text())["tests"][0]["schedule"]
    replayed = json.loads((pytester.path / "b.json").read_text())["tests"][0]["schedule"]
    assert replayed == original and len(original) >= 3


DECORATED = """
import pytest
from pytest_execserver import Fault, chaos, exec_mode, fault, fault_schedule, latency_budget

@fault("latency", ms=5)
@chaos("disconnect", Fault("down", duration_ms=50))
@exec_mode("both")
@latency_budget("connect", max=1, min_samples=0)
def test_decorated(request, exec_fault, exec_mode, exec_history):
    marks = {m.name: m for m in request.node.iter_markers()}
    assert marks["fault"].args == ("latency",) and marks["fault"].kwargs == {"ms": 5}
    assert marks["latency_budget"].kwargs["max"] == 1

@fault_schedule("latency", "down", seed=5, count=2)
def test_schedule(exec_history):
    pass
"""


def test_decorators_are_the_marks(inner: Inner, pytester: pytest.Pytester) -> None:
    import inspect

    from pytest_execserver import latency_budget

    assert list(inspect.signature(latency_budget).parameters) == ["phase", "p50", "p95", "p99", "max", "min_samples"]
    assert latency_budget(phase="process", p95=200).mark == pytest.mark.latency_budget(phase="process", p95=200).mark
    assert "p95" in (latency_budget.__doc__ or "")
    pytester.makepyfile(DECORATED)
    out = pytester.path / "r.json"
    result = inner("-v", "--execserver-report", out, "--execserver-seed", "3")
    result.assert_outcomes(passed=5)
    result.stdout.fnmatch_lines_random(["*test_decorated[[]disconnect-event-stream[]] PASSED*",
                                        "*test_decorated[[]down-legacy-read[]] PASSED*"])
    tests = {t["nodeid"].split("::")[1]: t for t in json.loads(out.read_text())["tests"]}
    assert tests["test_schedule"]["seed"] == 5 and len(tests["test_schedule"]["schedule"]) == 2


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        ("fault('lag')", pytest.UsageError, "@fault: unknown fault kind 'lag'; known kinds: latency*"),
        ("fault('latency', ms=-1)", pytest.UsageError, "@fault: fault 'latency': parameter 'ms' must be >= 0 ms*"),
        ("chaos()", pytest.UsageError, "@chaos: give at least one fault kind or Fault*"),
        ("fault_schedule('down', seed=-1)", pytest.UsageError, "@fault_schedule: seed must be a non-negative*"),
        ("exec_mode('turbo')", pytest.UsageError, "@exec_mode: unknown mode 'turbo'*"),
        ("latency_budget('teleport', max=1)", pytest.UsageError, "@latency_budget: unknown latency phase*"),
        ("latency_budget('rpc', p90=5)", TypeError, "*unexpected keyword argument 'p90'"),
        ("chaos('latency', seed=3)", TypeError, "*unexpected keyword argument 'seed'"),
    ],
)
def test_decorator_validates_at_decoration(call: str, error: type[Exception], message: str) -> None:
    import fnmatch

    import pytest_execserver

    with pytest.raises(error) as info:
        eval(call, {name: getattr(pytest_execserver, name) for name in pytest_execserver.__all__})
    assert fnmatch.fnmatch(str(info.value), message), str(info.value)
