"""The per-RPC split under injected network latency (Toxiproxy, via ``exec_proxy``): the latency shows up as
*network*, not as client-local or server time. Also the command that prints the tables for a run:

    .venv/bin/pytest tests/telemetry/test_latency_split.py -k "ref-0" -s   (ref-20, codex-0, codex-20)
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

Inner = Callable[..., pytest.RunResult]

pytestmark = pytest.mark.timeout(240)

RUNS = 12
TEST = '''
import pytest
from pytest_execserver.waiting import wait_until

@pytest.mark.exec_mode("legacy-read")
{marker}
async def test_runs(exec_client, exec_proxy, exec_history, exec_scratch):
    await wait_until(lambda: {latency} == 0 or any(e.op == "fault" for e in exec_history.events), 10)
    for i in range({runs}):
        result = await exec_client.run(["/bin/echo", f"r{{i}}"], cwd=exec_scratch, timeout=20)
        assert result.exit_code == 0
'''


@pytest.fixture
def inner(pytester: pytest.Pytester) -> Inner:
    from tests.plugin.conftest import _LEAN, INI

    pytester.makeini(INI)

    def run(*args: object) -> pytest.RunResult:
        return pytester.runpytest_subprocess("-p", "execserver", *_LEAN, *[str(a) for a in args], timeout=200)

    return run


def run_split(inner: Inner, pytester: pytest.Pytester, server: str, latency_ms: int) -> dict[str, Any]:
    marker = f'@pytest.mark.fault("latency", ms={latency_ms})' if latency_ms else ""
    pytester.makepyfile(TEST.format(marker=marker, latency=latency_ms, runs=RUNS))
    report = pytester.path / "r.json"
    result = inner("--execserver-server", server, "--execserver-toxiproxy", "embedded",
                   "--execserver-report", report)
    if server == "codex" and result.parseoutcomes().get("skipped"):
        pytest.skip("codex unavailable")
    result.assert_outcomes(passed=1)
    methods: dict[str, Any] = json.loads(report.read_text())["telemetry"]["rpc_methods"]
    return methods


@pytest.mark.parametrize("server", ["ref", pytest.param("codex", marks=pytest.mark.codex)])
@pytest.mark.parametrize("latency_ms", [0, 20])
def test_injected_latency_is_network_time(
    inner: Inner, pytester: pytest.Pytester, server: str, latency_ms: int
) -> None:
    methods = run_split(inner, pytester, server, latency_ms)
    start = methods["process/start"]
    assert start["n"] == RUNS and start["joined"] >= RUNS // 2, start
    for method in ("process/start", "process/read"):
        row = methods[method]
        if row["joined"]:
            assert 0.9 <= row["sum_share"] <= 1.0, (method, row)  # local + network + server vs the wall clock
    if latency_ms:
        # a request and its response each cross the 20 ms toxic: at least ~40 ms of the RPC is network
        assert start["network_p50_ms"] >= 1.5 * latency_ms, start
        assert start["network_share"] > start["server_share"] + start["local_share"], start
    elif server == "ref":
        assert start["network_p50_ms"] < 10, start
