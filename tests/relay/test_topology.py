"""``--execserver-topology``: bad values and clients that cannot use the relay are one usage error; a small
part of the shipped chaos suite runs with the Codex CLI client through our relay to the reference server
(client -> relay -> ``codex exec-server forward`` -> Toxiproxy -> server), and the relay's journal shows it."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pytest_execserver.faults.toxi import ToxiproxyControl
from pytest_execserver.servers.confine import Confinement
from pytest_execserver.servers.relay_topology import RelayTopology
from pytest_execserver.subjects.relay import RelayCodexSubject
from tests.relay.runs import delivered, run_paced

INI = """
[pytest]
asyncio_mode = auto
asyncio_default_fixture_loop_scope = function
"""
LEAN = ["-p", "execserver", "-p", "no:cacheprovider", "-p", "no:benchmark", "-p", "no:hypothesispytest"]


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeini(INI)
    pytester.makepyfile(test_one="def test_one():\n    pass\n")
    return pytester


@pytest.mark.parametrize("client", [[], ["--execserver-client", "ours:legacy-read"],
                                    ["--execserver-client", "python adapter.py {url}"]],
                         ids=["ours-default", "ours-legacy", "adapter"])
def test_relay_with_a_non_codex_client_is_one_usage_error(project: pytest.Pytester, client: list[str]) -> None:
    project.makepyfile(adapter="")
    result = project.runpytest_subprocess(*LEAN, "--execserver-topology", "relay", *client, timeout=60)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    err = result.stderr.str()
    assert err.count("--execserver-topology relay needs --execserver-client codex") == 1, err
    assert "Noise" in err and "passed" not in result.stdout.str()


def test_unknown_topology_and_ini_twin(project: pytest.Pytester) -> None:
    bad = project.runpytest_subprocess(*LEAN, "--execserver-topology", "mesh", timeout=60)
    assert bad.ret == pytest.ExitCode.USAGE_ERROR
    assert "--execserver-topology: unknown topology 'mesh'; use direct or relay" in bad.stderr.str()
    project.makeini(INI + "execserver_topology = relay\n")
    ini = project.runpytest_subprocess(*LEAN, timeout=60)
    assert ini.ret == pytest.ExitCode.USAGE_ERROR
    assert "needs --execserver-client codex" in ini.stderr.str()
    header = project.runpytest_subprocess(*LEAN, "--execserver-topology", "direct", timeout=60)
    assert header.ret == 0 and "topology=direct" in header.stdout.str()


@pytest.mark.slow
def test_chaos_latency_through_the_relay(pytester: pytest.Pytester, codex_available: None) -> None:
    """One chaos test (latency on the last hop) through the relay: it passes, its client checks ran against
    the reference server's journal, and our relay carried the codex client's streams."""
    pytester.makeini(INI)
    basetemp = pytester.path / "bt"
    result = pytester.runpytest_subprocess(
        *LEAN, "--pyargs", "pytest_execserver.suites.chaos", "-k", "test_latency and rtt100",
        "--execserver-client", "codex", "--execserver-topology", "relay", f"--basetemp={basetemp}",
        "-p", "no:randomly", timeout=120)
    result.assert_outcomes(passed=1)
    assert "topology=relay" in result.stdout.str()
    journals = list(Path(basetemp).glob("execserver[0-9]*/relay-topology/relay-*/relay.jsonl"))
    assert len(journals) == 1, journals
    events = [json.loads(line) for line in journals[0].read_text().splitlines() if line.strip()]
    opened = [e for e in events if e["event"] == "ws_open"]
    assert {e["role"] for e in opened} == {"environment", "harness"}, opened
    assert sum(1 for e in events if e["event"] == "stream_open") >= 1
    data = [e for e in events if e["event"] == "frame" and e.get("kind") == "data"]
    assert len(data) >= 10, f"only {len(data)} data frames through the relay"


@pytest.mark.asyncio
@pytest.mark.slow
async def test_codex_executor_behind_toxiproxy_on_its_relay_hop(tmp_path: Path, confinement: Confinement,
                                                                 toxiproxy: ToxiproxyControl,
                                                                 codex_available: None) -> None:
    """Where ``exec_proxy`` goes for codex's own executor: between it and the relay (``--remote`` = the proxy).
    The executor's websocket really runs through it: disabling the proxy cuts it, and codex dials again."""
    topology = RelayTopology(tmp_path / "topology", confinement)
    name = f"relay-hop-{os.getpid()}"
    client: RelayCodexSubject | None = None
    try:
        relay = topology.ensure_relay()
        listen = toxiproxy.create_proxy(name, relay.url.removeprefix("http://"), listen="127.0.0.1:0")["listen"]
        topology.ensure(None, via=f"http://{listen}")
        assert topology.remote is not None and topology.remote.scratch is not None
        scratch = topology.remote.scratch
        client = RelayCodexSubject(relay.url, tmp_path / "client", confinement=confinement)
        await client.start()
        first = await run_paced(client, scratch)
        assert delivered(first), first.describe()

        def environment(event: str) -> Callable[[list[dict[str, Any]]], bool]:
            count = sum(1 for e in relay.events(event) if e.get("role") == "environment")
            return lambda events: sum(1 for e in events if e["event"] == event
                                      and e.get("role") == "environment") > count

        opened, closed = environment("ws_open"), environment("ws_close")
        toxiproxy.disable(name)  # the executor's hop goes down: its websocket is cut
        relay.wait_for(closed, 15, "the executor's websocket closing")
        toxiproxy.enable(name)
        relay.wait_for(opened, 30, "the executor dialling the relay again through the proxy")
        second = await run_paced(client, scratch)
        assert delivered(second), second.describe()
    finally:
        if client is not None:
            await client.close()
        with contextlib.suppress(Exception):
            toxiproxy.destroy_proxy(name)
        topology.stop()


@pytest.mark.slow
def test_codex_executor_behind_the_relay_runs_the_suite_journal_free(pytester: pytest.Pytester,
                                                                     codex_available: None) -> None:
    """Setup (b) of issue 21: ``--execserver-server codex --execserver-topology relay`` registers codex's own
    executor (``--remote``) behind our relay; a cut on the client's rendezvous websocket (through exec_proxy)
    is recovered byte-exact, the checks ran journal-free (the report says which), and a protocol case skips
    saying the hop carries only Noise."""
    pytester.makeini(INI)
    basetemp = pytester.path / "bt"
    result = pytester.runpytest_subprocess(
        *LEAN, "--pyargs", "pytest_execserver.suites.chaos", "-rs",
        "-k", "(test_cut_mid_stream_recovers and reset) or test_close_1012",
        "--execserver-client", "codex", "--execserver-server", "codex", "--execserver-topology", "relay",
        f"--basetemp={basetemp}", "--execserver-report", "report.json", "-p", "no:randomly", timeout=180)
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(["*SKIPPED*protocol faults act on JSON-RPC messages*Noise channel*"])
    (record,) = [t for t in json.loads((pytester.path / "report.json").read_text())["tests"]
                 if t["outcome"] == "passed"]
    client = record["client"]
    assert client["checks"] == {"reported_in_time": [], "started_once": [], "session_lost_reported": []}, client
    assert set(client["journal_free"]["checked"]) == {"delivered_output", "started_once", "reported_in_time",
                                                      "session_lost_reported"}
    assert "session_resumed" in client["journal_free"]["not_checked"]
    assert "cut_landed" not in client["journal_free"]["not_checked"]  # the relay saw the second websocket
    assert "process" in record["budgets_not_measured"]  # the case's latency_budget: no journal phases
    (journal,) = Path(basetemp).glob("execserver[0-9]*/server-1-relay/relay.jsonl")
    events = [json.loads(line) for line in journal.read_text().splitlines() if line.strip()]
    # codex's own executor registered once; 3 codex runs, one cut and reopened: 4 client websockets
    assert sum(1 for e in events if e["event"] == "register") == 1
    assert sum(1 for e in events if e["event"] == "ws_open" and e["role"] == "environment") == 1
    assert sum(1 for e in events if e["event"] == "ws_open" and e["role"] == "harness") >= 4, \
        "the cut did not reach the client's rendezvous websocket"
    (rendezvous,) = {e["harness"] for e in events if e["event"] == "rendezvous_set"}
    relay_url = next(e["url"] for e in events if e["event"] == "listening")
    assert rendezvous.removeprefix("ws://") != relay_url.removeprefix("http://"), "the client's hop skipped the proxy"
