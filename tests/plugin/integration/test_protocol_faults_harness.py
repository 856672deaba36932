"""Protocol faults through the harness: the issue's marker examples on exec_proxy, with our client.

The protocol proxy sits between Toxiproxy and the reference server only in tests that arm a protocol
fault; each firing is a ``fault`` history event at the time its message passed.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from pytest_execserver import Fault
from pytest_execserver.checks.invariants import ExecHistory
from pytest_execserver.client import ExecClient, TransportError
from pytest_execserver.glue.fixtures import ClientFactory, ExecProxy
from pytest_execserver.servers.launch import ServerProcess

pytestmark = [pytest.mark.timeout(60)]

SCRIPT = "i=1; while [ $i -le 10 ]; do echo line$i; i=$((i+1)); sleep 0.03; done"
EXPECTED = b"".join(b"line%d\n" % i for i in range(1, 11))


def fired(history: ExecHistory, kind: str) -> list[dict[str, object]]:
    return [e.data for e in history.events if e.op == "fault" and e.data.get("kind") == kind
            and e.data.get("action") == "apply"]


def starts(server: ServerProcess, marker: str) -> int:
    assert server.journal_path is not None
    text = server.journal_path.read_text()
    return sum(1 for line in text.splitlines() if '"proc_start"' in line and marker in line)


async def run(client: ExecClient, history: ExecHistory, scratch: Path) -> None:
    handle = await client.start(["/bin/sh", "-c", SCRIPT], cwd=scratch)
    history.expect_output(handle.process_id, stdout=EXPECTED)
    result = await handle.wait(20)
    assert (result.exit_code, result.stdout) == (0, EXPECTED)


@pytest.mark.fault("drop", on="process/start:response")
async def test_drop_start_response_is_outcome_unknown(exec_client_factory: ClientFactory, exec_history: ExecHistory,
                                                      exec_scratch: Path, exec_server: ServerProcess,
                                                      exec_proxy: ExecProxy) -> None:
    client = await exec_client_factory(request_timeout_s=1.5)
    with pytest.raises(TransportError):
        await client.start(["/bin/sh", "-c", "echo drop-marker"], cwd=exec_scratch)
    (drop,) = fired(exec_history, "drop")
    assert str(drop["message"]).startswith("response process/start")
    assert starts(exec_server, "drop-marker") == 1
    await run(client, exec_history, exec_scratch)  # the connection is still usable


@pytest.mark.fault("close", code=1012, on="process/output", nth=3)
async def test_close_1012_on_third_output(exec_client: ExecClient, exec_history: ExecHistory,
                                          exec_scratch: Path) -> None:
    await run(exec_client, exec_history, exec_scratch)
    assert fired(exec_history, "close")
    assert any(e.op == "reconnect" for e in exec_history.events)


@pytest.mark.chaos(Fault("duplicate", on="process/output"), Fault("reorder", on="process/output", hold=2))
async def test_duplicate_and_reorder_output(exec_client: ExecClient, exec_history: ExecHistory,
                                            exec_scratch: Path, exec_fault: Fault) -> None:
    await run(exec_client, exec_history, exec_scratch)
    assert fired(exec_history, exec_fault.kind)


@pytest.mark.fault("server_restart", on="process/start:response")
async def test_server_restart_loses_the_session(exec_client_factory: ClientFactory, exec_history: ExecHistory,
                                                exec_scratch: Path, exec_server: ServerProcess) -> None:
    client = await exec_client_factory(request_timeout_s=3)
    url, pid = exec_server.url, exec_server.popen.pid
    began = time.monotonic()
    handle = await client.start(["/bin/sh", "-c", "sleep 0.5; echo late"], cwd=exec_scratch)
    with pytest.raises(TransportError):
        await handle.wait(15)
    assert time.monotonic() - began < 12
    assert exec_server.url == url and exec_server.popen.pid != pid and exec_server.is_running()
    assert fired(exec_history, "server_restart")


@pytest.mark.fault("server_pause", ms=800, on="process/output", nth=2)
async def test_server_pause_stops_and_resumes_the_server(exec_client: ExecClient, exec_history: ExecHistory,
                                                         exec_scratch: Path) -> None:
    began = time.monotonic()
    await run(exec_client, exec_history, exec_scratch)
    assert time.monotonic() - began >= 0.7  # the server really stood still
    windows = [e for e in exec_history.events if e.op == "fault" and e.data.get("kind") == "server_pause"]
    (apply,) = [e for e in windows if e.data["action"] == "apply"]
    (remove,) = [e for e in windows if e.data["action"] == "remove"]
    assert 0.75 <= (remove.time_ns - apply.time_ns) / 1e9 < 5


@pytest.mark.fault("client_pause", ms=500, on="process/output", nth=1)
async def test_client_pause_pauses_the_client(exec_client: ExecClient, exec_history: ExecHistory,
                                              exec_scratch: Path) -> None:
    await run(exec_client, exec_history, exec_scratch)
    assert fired(exec_history, "client_pause")


@pytest.mark.fault("latency", ms=20)
@pytest.mark.fault("close", code=1001, on="process/output", nth=2)
async def test_toxiproxy_and_protocol_faults_in_one_test(exec_client: ExecClient, exec_history: ExecHistory,
                                                         exec_scratch: Path) -> None:
    """Both layers at once; the protocol cut counts for the recovery time and is drawn on the timeline."""
    from pytest_execserver.glue.evaluate import durations
    from pytest_execserver.report.timeline import fault_windows

    await run(exec_client, exec_history, exec_scratch)
    events = exec_history.events
    kinds = {w[0] for w in fault_windows(events, time.monotonic_ns())}
    assert {"latency", "close"} <= kinds
    assert durations(events).get("recovery"), "the protocol close was not counted as a cut"


async def test_apply_on_exec_proxy_before_connecting(exec_proxy: ExecProxy, exec_client_factory: ClientFactory,
                                                     exec_history: ExecHistory, exec_scratch: Path) -> None:
    exec_proxy.apply("duplicate", on="process/output", nth=2)
    client = await exec_client_factory()
    await run(client, exec_history, exec_scratch)
    assert fired(exec_history, "duplicate")
    assert any(e.data.get("action") == "arm" for e in exec_history.events if e.op == "fault")
