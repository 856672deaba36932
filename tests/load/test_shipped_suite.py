"""The shipped load suite runs from any directory with ``--pyargs``; each of its checks fails on a server
with the matching bug, and ``--load-scale`` changes its sizes."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.timeout(300)


def _run(pytester: pytest.Pytester, server: str, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess("-p", "execserver", "-p", "no:cacheprovider", "--pyargs",
                                         "pytest_execserver.suites.load", "--execserver-server", server,
                                         "--execserver-toxiproxy", "embedded", *args, timeout=240)


def test_suite_passes_on_the_reference_server(pytester: pytest.Pytester) -> None:
    result = _run(pytester, "ref", "--load-scale", "0.5")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(["load *test_concurrent_clients_byte_exact: merged 1 run(s) on main: 4 clients: "
                                 "16 ok, 0 errors*"])
    result.stdout.fnmatch_lines(["*test_reconnect_storm_through_the_proxy: storm of 4 clients, 8 cuts: "
                                 "4 recovered byte-exact, 0 errors*"])


@pytest.mark.parametrize(("bug", "failing", "account"), [
    ("orphan-descendants", "test_server_resource_budget", "*descendants: 1 > 0: still alive*'sleep 30'*"),
    ("lose-first-chunk-after-resume", "test_reconnect_storm_through_the_proxy",
     "*storm of 4 clients, 8 cuts: 0 recovered byte-exact*"),
])  # fmt: skip
def test_suite_fails_on_the_matching_bug(pytester: pytest.Pytester, bug: str, failing: str, account: str) -> None:
    result = _run(pytester, f"ref --inject-bug {bug}", "--load-scale", "0.5", "-k", failing)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([account])


def test_bad_load_scale_is_a_usage_error(pytester: pytest.Pytester) -> None:
    result = _run(pytester, "ref", "--load-scale", "0")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--load-scale: must be in (0, 64], got 0.0*"])
