"""``@pytest.mark.resource_budget`` fires on the reference server's injected leaks and passes on the plain ref."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

Inner = Callable[..., pytest.RunResult]  # the `inner` fixture (tests/plugin/conftest.py)

pytestmark = pytest.mark.timeout(120)

# 12 one-shots (one leaked fd each under leak-fds), then a process that double-forks a grandchild
# (same process group) and is terminated: orphan-descendants kills only the leader.
TEST = '''
import pytest

DOUBLE_FORK = ["sh", "-c", "(sleep 30 >/dev/null 2>&1 </dev/null &); printf ready; exec sleep 31"]

@pytest.mark.resource_budget(rss_mb=400, fds=200, threads=64, descendants=0, idle_cpu_pct=50, fd_growth=6)
async def test_budget(exec_client, exec_scratch):
    for i in range(12):
        out = await exec_client.run(["printf", "x%s", str(i)], cwd=exec_scratch)
        assert out.stdout == f"x{i}".encode()
    handle = await exec_client.start(DOUBLE_FORK, cwd=exec_scratch)
    async for chunk in handle:
        assert chunk.data == b"ready"
        break
    assert await handle.terminate()
    await handle.wait(20)
'''


def _record(pytester: pytest.Pytester) -> dict[str, object]:
    report = json.loads((pytester.path / "report.json").read_text())
    (test,) = report["tests"]
    budget = test["resource_budget"]
    assert isinstance(budget, dict)
    return budget


@pytest.mark.parametrize(("bug", "budget", "account"), [
    (None, None, None),
    ("leak-fds", "fd_growth", "*fd_growth*> 6*fds not released after the test (a leak)*"),
    ("orphan-descendants", "descendants", "*descendants: 1 > 0: still alive at*'sleep 30'*"),
])  # fmt: skip
def test_resource_budget_marker(inner: Inner, pytester: pytest.Pytester, bug: str | None, budget: str | None,
                                account: str | None) -> None:  # fmt: skip
    pytester.makepyfile(TEST)
    server = "ref" if bug is None else f"ref --inject-bug {bug}"
    result = inner("--execserver-server", server, "--execserver-toxiproxy", "embedded",
                   "--execserver-report", pytester.path / "report.json",
                   "--execserver-artifacts", pytester.path / "arts")
    record = _record(pytester)
    if budget is None:
        result.assert_outcomes(passed=1)
        assert record["ok"] is True and record["violations"] == [], record
        assert record["descendants_at_end"] == 0
        return
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*execserver checks failed*", "*resource budget exceeded*", account])
    assert [v["budget"] for v in record["violations"]] == [budget], record  # type: ignore[union-attr]


@pytest.mark.parametrize(("marker", "message"), [
    ("resource_budget()", "give at least one budget"),
    ("resource_budget(fds=-1)", "fds must be a non-negative integer"),
    ("resource_budget(rss_mb='big')", "rss_mb must be a positive number"),
    ("resource_budget(fd_grow=3)", "unknown argument(s) fd_grow"),
    ("resource_budget(5)", "keyword arguments only"),
    ("resource_budget(idle_cpu_pct=5, idle_s=0.1)", "idle_cpu_pct needs idle_s >= 0.2"),
])  # fmt: skip
def test_bad_resource_budget_is_a_usage_error(inner: Inner, pytester: pytest.Pytester, marker: str,
                                              message: str) -> None:  # fmt: skip
    pytester.makepyfile(f"import pytest\n\n@pytest.mark.{marker}\ndef test_x(exec_server):\n    pass\n")
    result = inner()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*test_x: @pytest.mark.resource_budget: *{message}*"])
