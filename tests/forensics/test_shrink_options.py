"""``--execserver-shrink`` and ``--execserver-shrink-budget`` (and their ini twins): what they accept, and
what shrinking says when the faults are not the cause or the failure does not come back."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.timeout(300)

ALWAYS_FAILS = '''
import pytest
from pytest_execserver.faults.kinds import Fault


@pytest.mark.fault_schedule(Fault("latency", ms=5, at_ms=0, duration_ms=20), Fault("slicer", at_ms=10, duration_ms=20))
def test_fails_anyway(exec_history):
    assert False, "not the faults' fault"
'''

FAILS_ONCE = '''
from pathlib import Path
import pytest


@pytest.mark.fault_schedule("latency", seed=1, duration_ms=400)
def test_fails_only_the_first_time(exec_history):
    ran = Path(__file__).with_name("ran-once")
    first = not ran.exists()
    ran.touch()
    assert not first, "the first run fails, the replays pass (a flaky test)"
'''


def test_ini_twins_turn_it_on_and_set_the_budget(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nexecserver_shrink = true\nexecserver_shrink_budget = 60\n")
    pytester.makepyfile(test_it=ALWAYS_FAILS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", timeout=240)
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert "2 fault(s), failure 'builtins.AssertionError'; budget 60 s" in out
    assert "fails (builtins.AssertionError) without any fault of its schedule: the faults are not the cause" in out
    assert "3 run(s)" in out  # the schedule as drawn, then no fault at all, twice (the confirmation)


def test_a_failure_that_does_not_come_back_is_not_shrunk(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_it=FAILS_ONCE)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--execserver-shrink", timeout=240)
    result.assert_outcomes(failed=1)
    assert "did not reproduce in a fresh run with the same schedule" in result.stdout.str()


@pytest.mark.parametrize("value", ["0", "-3", "soon", "inf"])
def test_a_bad_budget_is_a_usage_error(pytester: pytest.Pytester, value: str) -> None:
    pytester.makepyfile(test_it="def test_x():\n    pass\n")
    result = pytester.runpytest("--execserver-shrink", "--execserver-shrink-budget", value)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--execserver-shrink-budget: the shrink budget must be a positive number*"])
