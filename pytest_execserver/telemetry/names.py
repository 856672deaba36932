"""Span attribute names and sub-phase names of the telemetry (no imports: the report modules use them)."""

from __future__ import annotations

WHOLE_ATTR = "execserver.whole"
WALL_ATTR = "execserver.wall_ns"
SUBPHASE_ATTR = "execserver.subphase"

RPC_SUBPHASES = ("instrument", "queue", "serialize", "send", "wait", "deserialize", "hand_off")
CONNECT_SUBPHASES = (
    "setup", "instrument", "dns", "tcp_connect", "ws_handshake", "initialize", "initialized_sent", "ready"
)
PROCESS_SUBPHASES = ("start", "first_output", "exited", "closed")
SUBPHASES = {"rpc": RPC_SUBPHASES, "connect": CONNECT_SUBPHASES, "process": PROCESS_SUBPHASES}
