"""A whole pytest run with the plugin: the tables in the terminal summary, JSON report and HTML page, and
client + server spans at the user's own OTLP collector (the harness's receiver standing in for one, over
real HTTP, configured only by the standard OTEL_* variables)."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from pytest_execserver.report.page import render
from pytest_execserver.telemetry.receiver import OtlpReceiver

Inner = Callable[..., pytest.RunResult]  # the `inner` fixture (tests/plugin/conftest.py)

pytestmark = pytest.mark.timeout(180)

TEST = '''
async def test_runs(exec_client, exec_scratch):
    for i in range(4):
        result = await exec_client.run(["/bin/echo", f"r{i}"], cwd=exec_scratch, timeout=10)
        assert result.exit_code == 0
'''


@pytest.fixture
def inner(pytester: pytest.Pytester) -> Inner:
    from tests.plugin.conftest import _LEAN, INI

    pytester.makeini(INI)

    def run(*args: object) -> pytest.RunResult:
        return pytester.runpytest_subprocess("-p", "execserver", *_LEAN, *[str(a) for a in args], timeout=150)

    return run


def test_run_prints_the_tables_and_sends_both_sides_to_the_users_collector(
    inner: Inner, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    collector = OtlpReceiver()
    collector.start()
    try:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.endpoint)
        monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", raising=False)
        monkeypatch.delenv("OTEL_SDK_DISABLED", raising=False)
        pytester.makepyfile(TEST)
        report = pytester.path / "r.json"
        result = inner("--execserver-mode", "legacy-read", "--execserver-report", report)
        result.assert_outcomes(passed=1)
        collector.wait_for(lambda spans: any(s.service == "execserver-ref" for s in spans), 5)
        spans = collector.spans()
    finally:
        collector.stop()

    result.stdout.fnmatch_lines([
        "where the time goes: connect (n=1, *named sub-phases explain *",
        "*ws_handshake*",
        "where the time goes: rpc (n=*",
        "*unexplained*",
        "per RPC method (shares of the measured wall time*",
        "*process/read *",
        "*process/start * 4 * 4 *",
    ])  # fmt: skip
    data = json.loads(report.read_text())
    telemetry = data["telemetry"]
    assert set(telemetry["phases"]) == {"connect", "rpc", "process"}
    assert {"queue", "serialize", "send", "wait", "deserialize", "hand_off", "unexplained"} <= set(
        telemetry["phases"]["rpc"]["subphases"]
    )
    start = telemetry["rpc_methods"]["process/start"]
    assert start["joined"] == start["n"] == 4 and start["server_share"] > 0
    read = telemetry["rpc_methods"]["process/read"]  # how many reads a process takes depends on timing
    assert read["n"] >= 4 and read["joined"] == read["n"]
    assert "per RPC method" in render(data)

    client = {s.span_id: s for s in spans if s.service == "pytest-execserver"}
    server = [s for s in spans if s.service == "execserver-ref"]
    assert any(s.name == "execserver.rpc process/start" for s in client.values())
    joined = [s for s in server if s.parent_id in client and client[s.parent_id].trace_id == s.trace_id]
    assert {s.attributes.get("rpc.method") for s in joined} >= {"initialize", "process/start", "process/read"}
