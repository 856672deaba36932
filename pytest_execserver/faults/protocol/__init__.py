"""Protocol faults: a transparent websocket proxy that drops, delays, duplicates, reorders, corrupts or
injects JSON-RPC messages and closes, resets or blackholes connections when a chosen message passes.

Standalone (no other ``pytest_execserver`` module is imported). See ``docs/protocol-faults.md``.

    from pytest_execserver.faults.protocol import ProtocolProxy, make_fault

    async with ProtocolProxy(server.url, [make_fault("close", code=1012, on="process/output", nth=3)]) as proxy:
        client = await connect(proxy.url)
        ...
        proxy.events  # [FaultEvent(kind="close", conn=1, message="notification process/output ...")]
"""

from pytest_execserver.faults.protocol.events import FaultEvent
from pytest_execserver.faults.protocol.kinds import (
    KINDS,
    Blackhole,
    ClientPause,
    Close,
    ConnectionFault,
    Corrupt,
    Cut,
    Delay,
    Drop,
    Duplicate,
    Fault,
    Inject,
    MessageFault,
    MutePongs,
    ProcessFault,
    Reorder,
    ServerPause,
    ServerRestart,
    make_fault,
)
from pytest_execserver.faults.protocol.proxy import OnFire, ProtocolProxy, ProxyThread
from pytest_execserver.faults.protocol.triggers import Direction, MessageInfo, Trigger

__all__ = [
    "KINDS",
    "Blackhole",
    "ClientPause",
    "Close",
    "ConnectionFault",
    "Corrupt",
    "Cut",
    "Delay",
    "Direction",
    "Drop",
    "Duplicate",
    "Fault",
    "FaultEvent",
    "Inject",
    "MessageFault",
    "MessageInfo",
    "MutePongs",
    "OnFire",
    "ProcessFault",
    "ProtocolProxy",
    "ProxyThread",
    "Reorder",
    "ServerPause",
    "ServerRestart",
    "Trigger",
    "make_fault",
]
