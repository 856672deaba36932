"""``--execserver-topology direct|relay`` (ini ``execserver_topology``): how the client under test reaches the
server under test. ``direct``: a ``ws://`` URL (through ``exec_proxy``). ``relay``: through our registry and
rendezvous relay, codex's remote path (docs/remote.md, "Topology"); only the Codex CLI client speaks it."""

from __future__ import annotations

TOPOLOGIES = ("direct", "relay")
DEFAULT_TOPOLOGY = "direct"

NOT_CODEX = (
    "--execserver-topology relay needs --execserver-client codex (or codex@VERSION), got {client!r}: the relay "
    "carries only a Noise channel (hybrid IK, X25519 + ML-KEM-768, codex's noise_hybrid_ik_v1) between the client "
    "and the executor, and our client and line-protocol adapters speak plain JSON-RPC over ws:// (no Noise "
    "handshake), so they cannot reach a server behind the relay; use --execserver-topology direct for them"
)


def topology_problem(value: str) -> str | None:
    """Why ``value`` is not a topology, or None."""
    if value in TOPOLOGIES:
        return None
    return f"unknown topology {value!r}; use {' or '.join(TOPOLOGIES)}"


def client_problem(topology: str, client: str | None) -> str | None:
    """Why ``client`` (the raw ``--execserver-client`` value, None = ours) cannot run under ``topology``."""
    if topology != "relay":
        return None
    spec = (client or "ours").strip()
    if spec == "codex" or spec.startswith("codex@"):
        return None
    return NOT_CODEX.format(client=spec)
