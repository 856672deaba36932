"""latency_budget applies to any client: the journal's phases (connect -> initialize, start -> first
output, start -> the client's reply) are its samples."""

from __future__ import annotations

import shlex
import sys

import pytest

EXAMPLE = shlex.join([sys.executable, "-m", "pytest_execserver.examples.ws_client"])

INNER = '''
import pytest

@pytest.mark.fault("latency", ms=60)
@pytest.mark.latency_budget("process", max={process_max}, min_samples=2)
@pytest.mark.latency_budget("first_output", max=20000, min_samples=2)
@pytest.mark.latency_budget("initialize", max=20000, min_samples=1)
async def test_runs(exec_subject):
    for _ in range(2):
        outcome = await exec_subject.run_argv(["seq", "1", "10"])
        assert outcome.exit_code == 0
'''


@pytest.mark.parametrize(("process_max", "passes"), [(20000, True), (50, False)])
def test_journal_phases_feed_latency_budgets(pytester: pytest.Pytester, process_max: int, passes: bool) -> None:
    pytester.makepyfile(test_inner=INNER.format(process_max=process_max))
    result = pytester.runpytest_subprocess("-p", "execserver", "-p", "no:cacheprovider", "-o", "asyncio_mode=auto",
                                           "--execserver-client", EXAMPLE + " {url}", timeout=120)
    if passes:
        result.assert_outcomes(passed=1)
    else:
        result.assert_outcomes(failed=1)
        # a round trip through a 60 ms (each way) proxy cannot beat 50 ms
        result.stdout.fnmatch_lines(["*latency budget for phase 'process' (scale 1): n=2 *",
                                     "*max=* ms exceeds budget 50.0 ms*"])
