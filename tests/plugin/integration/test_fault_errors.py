"""A fault that cannot be applied fails the test, naming the fault and the Toxiproxy error (never a silent
run without the fault). The clash is real: the test first adds a toxic under the name the injector will use,
so embedded Toxiproxy answers 409."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

Inner = Callable[..., pytest.RunResult]  # the `inner` fixture (tests/plugin/conftest.py)

pytestmark = pytest.mark.timeout(90)

TEST = '''
from pytest_execserver.faults.injector import FaultApplyError
from pytest_execserver.waiting import wait_until

def clash(proxy, name):
    proxy.control.add_toxic(proxy.name, "latency", {"latency": 1}, name=name, stream="downstream")

async def test_timed(exec_client, exec_proxy, exec_scratch):
    clash(exec_proxy, "x1-latency-downstream")  # the first toxic fault of a test gets the prefix x1-
    exec_proxy.apply("latency", ms=20, at_ms=100)
    await wait_until(lambda: exec_proxy.injector.errors, 10, "the timed fault's attempt")
    result = await exec_client.run(["/bin/echo", "hi"], cwd=exec_scratch, timeout=5)
    assert result.stdout == b"hi\\n"
    assert [t["name"] for t in exec_proxy.toxics()] == ["x1-latency-downstream"]  # upstream half removed

async def test_at_once(exec_client, exec_proxy):
    clash(exec_proxy, "x1-slicer-downstream")
    exec_proxy.slicer(average_size=8)

async def test_fine(exec_client, exec_proxy, exec_scratch):
    exec_proxy.apply("latency", ms=5, at_ms=50)
    await wait_until(lambda: exec_proxy.injector.applied, 10, "the timed fault")
    assert (await exec_client.run(["/bin/echo", "ok"], cwd=exec_scratch, timeout=5)).exit_code == 0
'''


def test_unapplied_fault_fails_the_test(inner: Inner, pytester: pytest.Pytester) -> None:
    pytester.makepyfile(TEST)
    report = pytester.path / "r.json"
    result = inner("--execserver-toxiproxy", "embedded", "--execserver-report", report,
                   "--execserver-artifacts", pytester.path / "arts", "-v")
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines([
        "*test_timed FAILED*",
        "*test_at_once FAILED*",
        "*test_fine PASSED*",
    ])
    result.stdout.fnmatch_lines([
        "*execserver checks failed",
        "fault injection failed, so the test did not run under the fault(s) it asked for:",
        "  fault Fault('latency', *ms=20*) could not be applied at +*ms: ToxiproxyError: toxiproxy 409: "
        "toxic already exists*",
    ])
    result.stdout.fnmatch_lines([
        "E   *FaultApplyError: fault Fault('slicer', *average_size=8*) could not be applied at +*ms: "
        "ToxiproxyError: toxiproxy 409: toxic already exists*",
    ])
    tests = {t["nodeid"].rsplit("::", 1)[1]: t for t in json.loads(report.read_text())["tests"]}
    assert len(tests["test_timed"]["fault_errors"]) == 1 and tests["test_fine"]["fault_errors"] == []
    assert "latency" not in tests["test_timed"]["faults"]  # never applied
