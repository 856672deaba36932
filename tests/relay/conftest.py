"""Fixtures for the remote path: our relay, codex's executor registered behind it (``--remote`` or
``forward`` to the reference server), and the Codex CLI client reaching it through the relay."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
import pytest_asyncio

from pytest_execserver.servers.codex import CodexUnavailable, codex_binary
from pytest_execserver.servers.confine import Confinement, choose_confinement
from pytest_execserver.servers.launch import ServerProcess, start_server
from pytest_execserver.servers.relay_topology import CodexRemote, RelayProcess, start_codex_remote, start_relay
from pytest_execserver.subjects.relay import RelayCodexSubject


@pytest.fixture
def confinement() -> Confinement:
    return choose_confinement()


@pytest.fixture
def codex_available() -> None:
    try:
        codex_binary()
    except CodexUnavailable as exc:
        pytest.skip(f"real codex unavailable: {exc}")


@pytest.fixture
def relay(tmp_path: Path, confinement: Confinement) -> Iterator[RelayProcess]:
    """Our registry + rendezvous relay, confined; stopped in teardown."""
    process = start_relay(tmp_path / "relay", confinement)
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture
def executor_scratch(tmp_path: Path) -> Path:
    """The executor's scratch directory: every command's cwd lies inside it."""
    path = tmp_path / "executor"
    path.mkdir()
    return path


@pytest.fixture
def start_remote(relay: RelayProcess, executor_scratch: Path, confinement: Confinement,
                 codex_available: None) -> Iterator[Callable[..., CodexRemote]]:
    """Start ``codex exec-server --remote`` (or ``forward`` with ``connect=``) against the relay."""
    started: list[CodexRemote] = []

    def start(**kw: object) -> CodexRemote:
        remote = start_codex_remote(relay.url, executor_scratch, confinement, **kw)  # type: ignore[arg-type]
        started.append(remote)
        return remote

    yield start
    for remote in started:
        remote.stop()


@pytest.fixture
def codex_executor(relay: RelayProcess, start_remote: Callable[..., CodexRemote]) -> CodexRemote:
    """codex's own executor, registered and connected to the relay."""
    executor = start_remote()
    relay.wait_for(lambda events: any(e["event"] == "ws_open" and e["role"] == "environment" for e in events),
                   what="executor websocket")
    return executor


@pytest.fixture
def ref_server(tmp_path: Path, executor_scratch: Path, confinement: Confinement) -> Iterator[ServerProcess]:
    """The reference exec-server (its scratch is the executor scratch), confined, journalling."""
    server = start_server("ref", executor_scratch, confinement=confinement)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def forwarded_ref(relay: RelayProcess, ref_server: ServerProcess,
                  start_remote: Callable[..., CodexRemote]) -> CodexRemote:
    """``codex exec-server forward`` registering the reference server behind the relay."""
    forward = start_remote(connect=ref_server.url)
    relay.wait_for(lambda events: any(e["event"] == "ws_open" and e["role"] == "environment" for e in events),
                   what="forwarder websocket")
    return forward


@pytest_asyncio.fixture
async def relay_client(relay: RelayProcess, tmp_path: Path, confinement: Confinement,
                       codex_available: None) -> AsyncIterator[RelayCodexSubject]:
    """The Codex CLI client (scripted model) reaching its executor through the registry and relay."""
    subject = RelayCodexSubject(relay.url, tmp_path / "codex-client", confinement=confinement)
    await subject.start()
    try:
        yield subject
    finally:
        await subject.close()
