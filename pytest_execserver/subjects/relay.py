"""The Codex CLI client on the remote path: it finds its executor through our registry and meets it at our
relay (``CODEX_EXEC_SERVER_NOISE_*`` instead of ``CODEX_EXEC_SERVER_URL``), and the ``exec_subject`` glue for
``--execserver-topology relay`` (docs/remote.md, "Topology")."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pytest_execserver.servers.relay_topology import AUTH_TOKEN, ENVIRONMENT_ID, RelayStartError, RelayTopology
from pytest_execserver.subjects.codex import CodexSubject, codex_client_version
from pytest_execserver.telemetry.receiver import server_env

_TOPOLOGY = pytest.StashKey[RelayTopology]()


class RelayCodexSubject(CodexSubject):
    """The Codex CLI client reaching its executor through the registry and relay (no ``CODEX_EXEC_SERVER_URL``)."""

    def __init__(self, relay_url: str, scratch: Path, *, environment_id: str = ENVIRONMENT_ID,
                 auth_token: str = AUTH_TOKEN, otel: bool = False, **kw: Any) -> None:
        super().__init__(relay_url, scratch, **kw)
        self.environment_id = environment_id
        self.auth_token = auth_token
        self.otel = otel

    def exec_server_env(self) -> dict[str, str]:
        env = {"CODEX_EXEC_SERVER_NOISE_REGISTRY_URL": self.url,
               "CODEX_EXEC_SERVER_NOISE_ENVIRONMENT_ID": self.environment_id,
               "CODEX_EXEC_SERVER_NOISE_AUTH_TOKEN": self.auth_token}
        if self.otel:  # traces to the harness's OTLP receiver ([otel] written into the client's CODEX_HOME)
            self.scratch.mkdir(parents=True, exist_ok=True)
            env.update(server_env("codex", self.scratch))
        return env


def relay_subject(spec: str, exec_proxy: Any, exec_server: Any, home: Path, config: pytest.Config) -> CodexSubject:
    """The codex client for ``--execserver-topology relay``. Any server but codex: the session's relay is
    started (once) with ``codex exec-server forward --connect <exec_proxy>`` registered behind it, so the chain
    is client -> relay -> forward -> Toxiproxy -> server and the server's journal stays the ground truth.
    Codex's own executor (:class:`~pytest_execserver.servers.relay_topology.RelayedServer`): client ->
    Toxiproxy -> relay -> ``codex exec-server --remote``, checked journal-free."""
    relay = getattr(exec_server, "relay", None)
    if relay is not None:  # codex's own executor, already behind the relay
        # the client's rendezvous websocket (the connection that carries its stream) crosses exec_proxy
        # (Toxiproxy -> the relay), so the test's faults sit between the client and the relay; its registry
        # calls go to the relay straight (registry faults are the relay's own kinds)
        relay.set_rendezvous("harness", f"ws://{exec_proxy.listen}")
        return RelayCodexSubject(relay.url, home, version=codex_client_version(spec),
                                 confinement=exec_server.confinement)
    topology = config.stash.get(_TOPOLOGY, None)
    if topology is None:
        topology = RelayTopology(exec_server.scratch.parent / "relay-topology", exec_server.confinement)
        config.stash[_TOPOLOGY] = topology
        config.add_cleanup(topology.stop)
    try:
        relay = topology.ensure(connect=f"ws://{exec_proxy.listen}")
    except RelayStartError as exc:
        pytest.fail(f"--execserver-topology relay: the relay path did not come up: {exc}", pytrace=False)
    return RelayCodexSubject(relay.url, home, version=codex_client_version(spec),
                             confinement=exec_server.confinement)
