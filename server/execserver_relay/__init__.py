"""A reference environment registry and rendezvous relay for codex's remote exec path (docs/remote.md).

Sans-I/O cores: :mod:`frames` (the protobuf envelope), :mod:`router` (routing by stream id, faults applied),
:mod:`registry` (register / connect / validate), :mod:`faults` (the fault plan as data). :mod:`app` is the
aiohttp layer around them; ``execserver-relay`` (:mod:`cli`) runs it alone.
"""

from execserver_relay.faults import FaultPlan, FaultSpecError, FrameFault, RegistryFault, ReregisterFault, UpgradeFault
from execserver_relay.frames import Frame, FrameError, build_frame, parse_frame
from execserver_relay.registry import Registry, Reply
from execserver_relay.router import RelayRouter

__all__ = [
    "FaultPlan",
    "FaultSpecError",
    "Frame",
    "FrameError",
    "FrameFault",
    "Registry",
    "RegistryFault",
    "RelayRouter",
    "Reply",
    "ReregisterFault",
    "UpgradeFault",
    "build_frame",
    "parse_frame",
]
