"""codex 0.171.0 on both ends of the remote path, through our registry and rendezvous relay (loopback)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_execserver.servers.launch import ServerProcess
from pytest_execserver.servers.relay_topology import ENVIRONMENT_ID, CodexRemote, RelayProcess
from pytest_execserver.subjects.base import RunRequest
from pytest_execserver.subjects.relay import RelayCodexSubject

pytestmark = pytest.mark.codex

BURST = ["/bin/sh", "-c", "exec 2>&1; seq 1 300; echo to-stderr >&2; printf 'tail\\tno newline'; exit 3"]
BURST_OUTPUT = ("".join(f"{i}\n" for i in range(1, 301)) + "to-stderr\ntail\tno newline").encode()


def request_in(scratch: Path, argv: list[str], timeout_ms: int = 20_000) -> RunRequest:
    return RunRequest(argv=argv, cwd=scratch.as_uri(), timeout_ms=timeout_ms)


def test_codex_executor_registers_and_connects(relay: RelayProcess, codex_executor: CodexRemote) -> None:
    events = relay.events()
    register = [e for e in events if e["event"] == "register"]
    assert register and register[0]["status"] == 200 and register[0]["environment_id"] == ENVIRONMENT_ID
    opened = [e for e in events if e["event"] == "ws_open" and e["role"] == "environment"]
    assert opened and opened[0]["t"] > register[0]["t"], "the executor dialled the relay before registering"
    assert codex_executor.popen.poll() is None, f"the executor exited: {codex_executor.log()[-800:]}"


def test_forward_registers_the_reference_server(relay: RelayProcess, forwarded_ref: CodexRemote,
                                                ref_server: ServerProcess) -> None:
    assert [e["status"] for e in relay.events("register")] == [200]
    assert forwarded_ref.popen.poll() is None, f"forward exited: {forwarded_ref.log()[-800:]}"
    assert ref_server.is_running()


async def test_codex_client_runs_a_command_through_relay_and_codex_executor(
        relay: RelayProcess, codex_executor: CodexRemote, relay_client: RelayCodexSubject,
        executor_scratch: Path) -> None:
    outcome = await relay_client.run(request_in(executor_scratch, BURST))
    assert outcome.error is None, f"{outcome.error}; executor log: {codex_executor.log()[-600:]}"
    assert outcome.exit_code == 3
    assert outcome.stdout == BURST_OUTPUT
    events = relay.events()
    assert [e["status"] for e in events if e["event"] == "connect"][:1] == [200]
    assert any(e["event"] == "validate" and e.get("valid") is True for e in events)
    data = [e for e in events if e["event"] == "frame" and e["kind"] == "data"]
    assert {e["direction"] for e in data} == {"to_harness", "to_environment"}


async def test_codex_client_runs_a_command_through_relay_and_forward_to_ref(
        relay: RelayProcess, forwarded_ref: CodexRemote, ref_server: ServerProcess,
        relay_client: RelayCodexSubject, executor_scratch: Path) -> None:
    outcome = await relay_client.run(request_in(executor_scratch, BURST))
    assert outcome.error is None, f"{outcome.error}; forward log: {forwarded_ref.log()[-600:]}"
    assert (outcome.exit_code, outcome.stdout) == (3, BURST_OUTPUT)
    assert ref_server.journal_path is not None
    journal = ref_server.journal_path.read_text()
    assert '"process/start"' in journal, "the reference server's journal shows no process/start"
