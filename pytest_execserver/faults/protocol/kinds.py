"""Fault kinds: one small dataclass each, with its parameters and a pure plan; the proxy does the I/O.

Every fault has a trigger (``on``, ``nth``, ``process``, see :mod:`.triggers`). Message faults return a
:class:`MessagePlan` for the matched message; connection faults act on the connection right after the
matched message was forwarded; process faults only call the proxy's ``on_fire`` hook (the plugin acts).
``make_fault("close", on="process/output", nth=3, code=1012)`` builds one by name.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

from pytest_execserver.faults.protocol.triggers import Trigger
from pytest_execserver.faults.protocol.wsframes import OP_TEXT

Reframe = Callable[[int, bytes], bytes]
"""Builds one uncompressed frame (opcode, payload) for the direction the message travels (masked to a server)."""


@dataclass(frozen=True, slots=True)
class Message:
    """A complete data message: its frames' raw bytes, its payload (decompressed) and whether it was compressed."""

    opcode: int
    payload: bytes
    raw: bytes
    compressed: bool = False
    process: str | None = None  # the processId it is about (a response: its request's), when known


@dataclass(frozen=True)
class MessagePlan:
    """What to send in place of the matched message.

    ``send``: the bytes, in order (empty: withheld). ``delay_s``: wait before sending. ``hold``: keep ``send``
    back until this many later messages in the same direction have passed. ``desync``: the receiver's
    inflater no longer sees what the sender's deflater produced (a compressed message withheld or
    replaced), so the proxy re-frames every later compressed message of that direction uncompressed.
    """

    send: list[bytes]
    delay_s: float = 0.0
    hold: int = 0
    desync: bool = False


@dataclass(frozen=True, kw_only=True)
class Fault:
    """Base of every kind: the trigger's ``on``, ``nth`` (default 1) and optional ``process``."""

    kind: ClassVar[str] = ""
    on: str
    nth: int = 1
    process: str | None = None
    trigger: Trigger = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "trigger", Trigger.parse(self.on, self.nth, self.process))

    def params(self) -> dict[str, Any]:
        """The kind's own parameters (for the event record)."""
        skip = {"on", "nth", "process", "trigger"}
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name not in skip}


class MessageFault(Fault):
    """Replaces how the matched message is sent."""

    def plan(self, message: Message, reframe: Reframe) -> MessagePlan:
        raise NotImplementedError


class ConnectionFault(Fault):
    """Acts on the connection right after the matched message was forwarded."""


class ProcessFault(Fault):
    """Acted on by the proxy's ``on_fire`` hook (the plugin kills, stops or resumes a process)."""


@dataclass(frozen=True, kw_only=True)
class Drop(MessageFault):
    """Withhold the matched message."""

    kind: ClassVar[str] = "drop"

    def plan(self, message: Message, reframe: Reframe) -> MessagePlan:
        return MessagePlan([], desync=message.compressed)


@dataclass(frozen=True, kw_only=True)
class Delay(MessageFault):
    """Send the matched message ``ms`` late; later messages in its direction queue behind it."""

    kind: ClassVar[str] = "delay"
    ms: float

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_non_negative("ms", self.ms)

    def plan(self, message: Message, reframe: Reframe) -> MessagePlan:
        return MessagePlan([message.raw], delay_s=self.ms / 1000)


@dataclass(frozen=True, kw_only=True)
class Duplicate(MessageFault):
    """Send the matched message twice (the copy uncompressed, so a deflate context stays in step)."""

    kind: ClassVar[str] = "duplicate"

    def plan(self, message: Message, reframe: Reframe) -> MessagePlan:
        copy = reframe(message.opcode, message.payload) if message.compressed else message.raw
        return MessagePlan([message.raw, copy])


@dataclass(frozen=True, kw_only=True)
class Reorder(MessageFault):
    """Hold the matched message until ``hold`` later messages in the same direction have passed."""

    kind: ClassVar[str] = "reorder"
    hold: int = 1

    def __post_init__(self) -> None:
        super().__post_init__()
        if isinstance(self.hold, bool) or not isinstance(self.hold, int) or self.hold < 1:
            raise ValueError(f"reorder hold= must be an integer >= 1, not {self.hold!r}")

    def plan(self, message: Message, reframe: Reframe) -> MessagePlan:
        if message.compressed:
            return MessagePlan([reframe(message.opcode, message.payload)], hold=self.hold, desync=True)
        return MessagePlan([message.raw], hold=self.hold)


CORRUPTIONS = ("truncate", "not_json", "wrong_type")


@dataclass(frozen=True, kw_only=True)
class Corrupt(MessageFault):
    """Replace the matched message: ``truncate`` (its first half), ``not_json``, or ``wrong_type``
    (every top-level field of its ``params``/``result`` gets a value of another JSON type)."""

    kind: ClassVar[str] = "corrupt"
    how: str = "not_json"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.how not in CORRUPTIONS:
            raise ValueError(f"corrupt how= must be one of {CORRUPTIONS}, not {self.how!r}")

    def plan(self, message: Message, reframe: Reframe) -> MessagePlan:
        return MessagePlan([reframe(OP_TEXT, corrupt_payload(message.payload, self.how))], desync=message.compressed)


@dataclass(frozen=True, kw_only=True)
class Inject(MessageFault):
    """Send a crafted message (a JSON-able value, or ``str``/``bytes`` sent as text) after the matched one,
    ``count`` times. In a JSON-able ``frame`` every string ``"{process}"`` becomes the processId the matched
    message is about (a response: its request's), so a frame can name the running process: a future seq,
    an ``exited`` without a code."""

    kind: ClassVar[str] = "inject"
    frame: Any
    count: int = 1

    def __post_init__(self) -> None:
        super().__post_init__()
        if isinstance(self.count, bool) or not isinstance(self.count, int) or not 1 <= self.count <= 100_000:
            raise ValueError(f"inject count= must be an integer in 1..100000, not {self.count!r}")

    def plan(self, message: Message, reframe: Reframe) -> MessagePlan:
        frame = self.frame
        if message.process is not None:
            frame = (frame.replace(json.dumps(PROCESS_PLACEHOLDER), json.dumps(message.process))
                     if isinstance(frame, str) else _name_process(frame, message.process))  # JSON text, or a value
        crafted = reframe(OP_TEXT, inject_payload(frame))
        return MessagePlan([message.raw, crafted * self.count])  # one piece: no quadratic joining of writes


@dataclass(frozen=True, kw_only=True)
class Close(ConnectionFault):
    """Send a close frame with ``code``/``reason`` to ``to`` ("client" or "server") after the matched message.

    The other side's connection is closed cleanly (close 1001, then FIN), so a server drops the session's
    attachment. ``handshake=True``: the peer's close reply is awaited, then TCP is closed. ``handshake=False``:
    the proxy never answers nor closes that TCP connection (until the proxy stops).
    """

    kind: ClassVar[str] = "close"
    code: int = 1000
    reason: str = ""
    handshake: bool = True
    to: str = "client"

    def __post_init__(self) -> None:
        super().__post_init__()
        if isinstance(self.code, bool) or not isinstance(self.code, int) or not 1000 <= self.code <= 4999:
            raise ValueError(f"close code= must be an integer in 1000..4999, not {self.code!r}")
        if len(self.reason.encode()) > 123:
            raise ValueError("close reason= must be at most 123 bytes of UTF-8")
        if self.to not in ("client", "server"):
            raise ValueError(f"close to= must be 'client' or 'server', not {self.to!r}")


@dataclass(frozen=True, kw_only=True)
class Cut(ConnectionFault):
    """Reset both TCP connections (SO_LINGER 0) right after the matched message."""

    kind: ClassVar[str] = "cut"


@dataclass(frozen=True, kw_only=True)
class Blackhole(ConnectionFault):
    """This connection goes silent both ways, no FIN, no RST, for ``duration_ms`` (``None``: until the proxy
    stops); nothing is read or sent meanwhile, then what was held flows again. New connections pass."""

    kind: ClassVar[str] = "blackhole"
    duration_ms: float | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.duration_ms is not None:
            _check_non_negative("duration_ms", self.duration_ms)


@dataclass(frozen=True, kw_only=True)
class MutePongs(ConnectionFault):
    """From the matched message on, pong frames of this connection are dropped (both ways); data flows."""

    kind: ClassVar[str] = "mute_pongs"


@dataclass(frozen=True, kw_only=True)
class ServerRestart(ProcessFault):
    """Hook only: the plugin SIGKILLs the server and starts it again on the same address."""

    kind: ClassVar[str] = "server_restart"


@dataclass(frozen=True, kw_only=True)
class ServerPause(ProcessFault):
    """Hook only: the plugin SIGSTOPs the server for ``ms``, then SIGCONTs it."""

    kind: ClassVar[str] = "server_pause"
    ms: float = 1000

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_non_negative("ms", self.ms)


@dataclass(frozen=True, kw_only=True)
class ClientPause(ProcessFault):
    """Hook only: the plugin SIGSTOPs the client under test for ``ms``, then SIGCONTs it."""

    kind: ClassVar[str] = "client_pause"
    ms: float = 1000

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_non_negative("ms", self.ms)


KINDS: dict[str, type[Fault]] = {
    cls.kind: cls
    for cls in (
        Drop, Delay, Duplicate, Reorder, Corrupt, Inject,
        Close, Cut, Blackhole, MutePongs,
        ServerRestart, ServerPause, ClientPause,
    )
}  # fmt: skip


def make_fault(kind: str, **params: Any) -> Fault:
    """The fault of that kind, e.g. ``make_fault("drop", on="process/start:response")``."""
    cls = KINDS.get(kind)
    if cls is None:
        raise ValueError(f"unknown protocol fault kind {kind!r}; known: {sorted(KINDS)}")
    if "on" not in params:
        raise ValueError(f"protocol fault {kind!r} needs on='METHOD[:request|response|notification]'")
    try:
        return cls(**params)
    except TypeError as exc:
        raise ValueError(f"bad parameters for protocol fault {kind!r}: {exc}") from None


def corrupt_payload(payload: bytes, how: str) -> bytes:
    """The corrupted text of a message (valid UTF-8 in every case, so only the JSON layer sees the fault)."""
    text = payload.decode("utf-8", errors="replace")
    if how == "truncate":
        return text[: len(text) // 2].encode()
    if how == "not_json":
        return b"not json: " + text[:40].encode()
    try:
        obj = json.loads(text)
    except ValueError:
        return b"not json"
    if isinstance(obj, dict):
        for key in ("params", "result"):
            if isinstance(obj.get(key), dict):
                obj[key] = {k: _wrong_type(v) for k, v in obj[key].items()}
                break
        else:
            obj = {k: _wrong_type(v) for k, v in obj.items() if k != "jsonrpc"}
    else:
        obj = _wrong_type(obj)
    return json.dumps(obj, separators=(",", ":")).encode()


def _wrong_type(value: Any) -> Any:
    if isinstance(value, bool) or value is None:
        return "wrong type"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return 0
    return "wrong type"  # objects and arrays


def _name_process(frame: Any, process: str) -> Any:
    """``frame`` with every string ``"{process}"`` (at any depth of a JSON-able value) replaced by ``process``."""
    if frame == PROCESS_PLACEHOLDER:
        return process
    if isinstance(frame, dict):
        return {k: _name_process(v, process) for k, v in frame.items()}
    if isinstance(frame, list):
        return [_name_process(v, process) for v in frame]
    return frame


PROCESS_PLACEHOLDER = "{process}"


def inject_payload(frame: Any) -> bytes:
    if isinstance(frame, bytes):
        return frame
    if isinstance(frame, str):
        return frame.encode()
    return json.dumps(frame, separators=(",", ":")).encode()


def _check_non_negative(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ValueError(f"{name}= must be a number >= 0, not {value!r}")
