"""The proxy's sans-I/O core for one connection: bytes in, actions out (python-websockets' ``Protocol`` style).

``receive(direction, data)`` takes what one side sent and returns :class:`Write`, :class:`Sleep`,
:class:`Fire`, :class:`Reset`, :class:`HangUp` and :class:`Freeze` actions; ``proxy.py`` only performs them.

Pass-through. The HTTP heads are forwarded as they are; after a 101 both byte streams are cut into frames
and every frame is forwarded as its original bytes. Each completed data message is decoded (inflated with a
copy of the receiving peer's permessage-deflate context, when negotiated) and classified for the triggers.
While no fault is armed, frames are forwarded as soon as they are complete, so the byte stream is identical,
interleaved control frames included. While a fault is armed, a fragmented message's data frames wait until
its last frame (the fault needs the whole message to decide); control frames are never held.

Faults. Message faults replace the matched message by their plan. Connection faults act after the matched
message was forwarded: ``close`` sends a close frame and closes the other side, ``cut`` resets both,
``blackhole`` freezes the connection, ``mute_pongs`` drops later pongs. When a fault withholds or replaces a
compressed message the receiver's inflater and the sender's deflater fall out of step; from then on the
proxy sends every compressed message of that direction re-framed uncompressed (permessage-deflate allows
uncompressed messages, which leave the receiver's context untouched).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from websockets.extensions.permessage_deflate import PerMessageDeflate
from websockets.frames import Frame, Opcode

from pytest_execserver.faults.protocol.events import FaultEvent
from pytest_execserver.faults.protocol.handshake import Negotiated, read_response_head, split_head
from pytest_execserver.faults.protocol.kinds import (
    Blackhole,
    Close,
    ConnectionFault,
    Cut,
    Fault,
    Message,
    MessageFault,
    MutePongs,
)
from pytest_execserver.faults.protocol.triggers import Direction, MessageInfo, RpcTracker
from pytest_execserver.faults.protocol.wsframes import (
    OP_BINARY,
    OP_CLOSE,
    OP_CONT,
    OP_PONG,
    OP_TEXT,
    FrameParser,
    RawFrame,
    close_payload,
    encode_frame,
)

TO_SERVER, TO_CLIENT = Direction.TO_SERVER, Direction.TO_CLIENT
OTHER_SIDE_CLOSE = (1001, "closed by the protocol fault proxy")


@dataclass(slots=True)
class Write:
    """Send ``data`` towards ``to`` (``TO_SERVER``: on the upstream socket)."""

    to: Direction
    data: bytes


@dataclass(frozen=True, slots=True)
class Sleep:
    """Pause this direction's loop (a ``delay``)."""

    seconds: float


@dataclass(frozen=True, slots=True)
class Fire:
    """Record the event and await the ``on_fire`` hook."""

    event: FaultEvent


@dataclass(frozen=True, slots=True)
class Reset:
    """Reset both TCP connections (SO_LINGER 0)."""


@dataclass(frozen=True, slots=True)
class HangUp:
    """Close the TCP connection towards ``to`` (FIN)."""

    to: Direction


@dataclass(frozen=True, slots=True)
class Freeze:
    """Stop reading and writing both sides for ``seconds`` (``None``: until the proxy stops), then ``thaw()``."""

    seconds: float | None


Action = Write | Sleep | Fire | Reset | HangUp | Freeze


@dataclass(slots=True)
class _Held:
    data: bytes
    remaining: int


class Armed:
    """A fault and its match count, shared by every connection of a proxy (``nth`` counts over all)."""

    def __init__(self, fault: Fault) -> None:
        self.fault = fault
        self.seen = 0
        self.fired = False

    def offer(self, info: MessageInfo) -> bool:
        """Count a matching message; true exactly once, on the ``nth`` match."""
        if self.fired or not self.fault.trigger.matches(info):
            return False
        self.seen += 1
        if self.seen >= self.fault.trigger.nth:
            self.fired = True
            return True
        return False


class FaultSet:
    """The faults of one proxy, in the order they were armed."""

    def __init__(self, faults: Iterable[Fault] = ()) -> None:
        self.armed: list[Armed] = [Armed(f) for f in faults]
        self.pending = bool(self.armed)  # some fault has not fired yet
        self.needles: tuple[bytes, ...] = ()
        self._update()

    def add(self, fault: Fault) -> None:
        self.armed.append(Armed(fault))
        self._update()

    def offer(self, info: MessageInfo) -> list[Fault]:
        fired = [a.fault for a in self.armed if a.offer(info)]
        if fired:
            self._update()
        return fired

    def _update(self) -> None:
        waiting = [a for a in self.armed if not a.fired]
        self.pending = bool(waiting)
        # The methods the unfired triggers name, as they appear in JSON: a message without any of them (and
        # without an escape that could spell one) cannot match, so it is not parsed (see ``could_match``).
        names = {t.method for a in waiting for t in (a.fault.trigger.alternatives or (a.fault.trigger,))}
        self.needles = tuple(sorted(json.dumps(name).encode() for name in names))

    def could_match(self, payload: bytes) -> bool:
        """Whether a request or notification in ``payload`` could name a method some trigger waits for."""
        for needle in self.needles:
            if needle in payload:
                return True
        return b"\\" in payload and (b"\\u" in payload or b"\\/" in payload)  # a name spelt with escapes


class _Side:
    """The state of one direction of the stream (no dicts keyed by Direction: enum hashing is slow)."""

    __slots__ = (
        "decoder",
        "desync",
        "direction",
        "frames",
        "head",
        "held",
        "in_head",
        "parser",
        "parts",
        "streamed",
        "unreadable",
    )  # fmt: skip

    def __init__(self, direction: Direction) -> None:
        self.direction = direction
        self.parser = FrameParser()
        self.decoder: PerMessageDeflate | None = None
        self.frames: list[RawFrame] = []  # data frames of the message being assembled
        self.parts: list[bytes] = []  # their payloads, inflated
        self.streamed = False  # this message's frames went out as they came
        self.unreadable = False  # inflating failed: payloads unknown from here
        self.desync = False  # re-frame compressed messages uncompressed from here
        self.held: list[_Held] = []  # reorder
        self.head = b""
        self.in_head = True


class ConnectionCore:
    """One proxied connection's state: handshake, framing, message tracking and fault effects."""

    def __init__(self, conn: int, faults: FaultSet, clock: Callable[[], int] = time.monotonic_ns) -> None:
        self.conn = conn
        self._faults = faults
        self._clock = clock
        self._up = _Side(TO_SERVER)
        self._down = _Side(TO_CLIENT)
        self._early: bytes = b""  # client bytes after its head, before the server's answer was read
        self.negotiated: Negotiated | None = None
        self.raw = False  # not a websocket (no 101): bytes pass unchanged
        self._tracker = RpcTracker()
        self.state = "open"  # open, closing, frozen, dead
        self._closing: tuple[Direction, bool] | None = None  # (towards, await the close reply)
        self._mute_pongs = False
        self._frozen_actions: list[Action] = []
        self._frozen_by: tuple[Fault, str, str] | None = None
        self._out: list[Action] = []

    @property
    def closing_towards(self) -> Direction | None:
        """After a ``close`` fault: the direction its close frame went (its peer's connection stays as the
        fault says); otherwise ``None``."""
        return self._closing[0] if self._closing is not None and self.state == "closing" else None

    # ------------------------------------------------------------------ input

    def forward(self, direction: Direction, data: bytes) -> bytes | None:
        """The pass-through path: with no fault waiting and nothing held, the bytes of ``data``'s complete
        frames to forward unchanged (``b""``: none complete yet); ``None`` when :meth:`receive` must decide."""
        side = self._up if direction is TO_SERVER else self._down
        if (
            self._faults.pending
            or side.in_head
            or side.decoder is not None
            or side.desync
            or side.frames
            or side.held
            or self._mute_pongs
            or self.state != "open"
            or self.raw
            or self.negotiated is None
        ):
            return None
        return side.parser.split(data)

    def receive(self, direction: Direction, data: bytes) -> list[Action]:
        """Bytes read from the side that sends towards ``direction``; returns what to do with them."""
        out: list[Action] = []
        self._out = out
        if self.state == "dead" or not data:
            return out
        side = self._up if direction is TO_SERVER else self._down
        if self.raw:
            self._emit(Write(direction, data))
        elif side.in_head:
            self._receive_head(side, data)
        elif side is self._up and self.negotiated is None:
            self._early += data
        else:
            self._receive_frames(side, data)
        return out

    def thaw(self) -> list[Action]:
        """End a blackhole: what was held back, in order, after the end event."""
        out: list[Action] = []
        self._out = out
        if self.state != "frozen":
            return out
        self.state = "open"
        if self._frozen_by is not None:
            fault, direction, summary = self._frozen_by
            out.append(Fire(self._event(fault, direction, summary, phase="end")))
        out.extend(self._frozen_actions)
        self._frozen_actions = []
        return out

    def _receive_head(self, side: _Side, data: bytes) -> None:
        split = split_head(side.head + data)
        if split is None:
            side.head += data
            return
        head, rest = split
        side.head = b""
        side.in_head = False
        self._emit(Write(side.direction, head))
        if side is self._up:
            if rest:
                if self.negotiated is None:
                    self._early += rest
                else:
                    self._receive_frames(side, rest)
            return
        self.negotiated = read_response_head(head)
        early, self._early = self._early, b""
        if not self.negotiated.upgraded:
            self.raw = True
            for chunk, towards in ((rest, TO_CLIENT), (early, TO_SERVER)):
                if chunk:
                    self._emit(Write(towards, chunk))
            return
        self._up.decoder = self.negotiated.decoder(from_client=True)
        self._down.decoder = self.negotiated.decoder(from_client=False)
        if early:
            self._receive_frames(self._up, early)
        if rest:
            self._receive_frames(self._down, rest)

    def _receive_frames(self, side: _Side, data: bytes) -> None:
        if (
            not self._faults.pending
            and side.decoder is None
            and not side.desync
            and not side.frames
            and not side.held
            and not self._mute_pongs
            and self.state == "open"
        ):
            # Nothing can fire: forward the complete frames as one piece, read nothing. (A response trigger
            # armed later does not know the requests that passed here.)
            complete = side.parser.split(data)
            if complete:
                self._emit(Write(side.direction, complete))
            return
        for frame in side.parser.feed(data):
            if self.state == "dead":
                return
            if self.state == "closing":
                self._while_closing(side.direction, frame)
            elif frame.opcode >= 0x8:  # control frames pass at once, even between a message's fragments
                if not (self._mute_pongs and frame.opcode == OP_PONG):
                    self._emit(Write(side.direction, frame.raw))
            else:
                self._data_frame(side, frame)

    # ------------------------------------------------------------------ messages

    def _data_frame(self, side: _Side, frame: RawFrame) -> None:
        if not side.frames:
            side.streamed = not (self._faults.pending or side.desync)
        side.frames.append(frame)
        side.parts.append(frame.payload if side.decoder is None else self._inflate(side, frame))
        if side.streamed:
            self._emit(Write(side.direction, frame.raw))
        if frame.fin:
            self._message(side)

    @staticmethod
    def _inflate(side: _Side, frame: RawFrame) -> bytes:
        if side.decoder is None or side.unreadable:
            return frame.payload
        try:
            return bytes(side.decoder.decode(Frame(Opcode(frame.opcode), frame.payload, frame.fin, frame.rsv1)).data)
        except Exception:  # a peer's bad deflate data: forwarded as it is, the receiver will complain
            side.unreadable = True
            return frame.payload

    def _message(self, side: _Side) -> None:
        direction = side.direction
        frames, side.frames = side.frames, []
        parts, side.parts = side.parts, []
        first = frames[0]
        opcode = first.opcode if first.opcode != OP_CONT else OP_TEXT
        payload = parts[0] if len(parts) == 1 else b"".join(parts)
        compressed = first.rsv1 and side.decoder is not None
        if side.unreadable or not self._faults.pending:
            info = MessageInfo(direction, "other")
        elif self._faults.could_match(payload) or self._tracker.awaits_reply(direction):
            # JSON-RPC in a binary frame is still a message: codex's `exec-server forward` sends its requests so
            info = self._tracker.observe(direction, payload, text=opcode in (OP_TEXT, OP_BINARY))
        else:  # names no method a trigger waits for, and answers no request it saw: not parsed
            info = MessageInfo(direction, "other")
        fired = self._faults.offer(info) if info.kind != "other" else []
        if not fired:  # the hot path: nothing fires
            if not side.streamed:
                if compressed and side.desync:
                    self._emit(Write(direction, self._reframe(direction, opcode, payload)))
                else:
                    for f in frames:
                        self._emit(Write(direction, f.raw))
            if side.held:
                self._release_held(side)
            return
        if compressed and side.desync:
            message = Message(opcode, payload, self._reframe(direction, opcode, payload), False, info.process)
        else:
            message = Message(opcode, payload, b"".join(f.raw for f in frames), compressed, info.process)
        self._fired(side, message, info.summary(), fired)

    def _fired(self, side: _Side, message: Message, summary: str, fired: list[Fault]) -> None:
        direction = side.direction
        planned: Fault | None = None
        if not side.streamed:
            planned = next((f for f in fired if isinstance(f, MessageFault)), None)
        if planned is None:
            if not side.streamed:
                self._emit(Write(direction, message.raw))
            self._release_held(side)
        else:
            assert isinstance(planned, MessageFault)
            self._emit(Fire(self._event(planned, direction.value, summary)))
            plan = planned.plan(message, lambda op, data: self._reframe(direction, op, data))
            if plan.desync:
                side.desync = True
            if plan.delay_s:
                self._emit(Sleep(plan.delay_s))
            if plan.hold:
                side.held.append(_Held(b"".join(plan.send), plan.hold))
            else:
                for chunk in plan.send:
                    self._emit(Write(direction, chunk))
                self._release_held(side)
        for fault in fired:
            if fault is planned:
                continue
            if isinstance(fault, MessageFault):
                # a second message fault on one message, or one armed after the message streamed past
                self._emit(Fire(self._event(fault, direction.value, summary, phase="skipped")))
                continue
            self._emit(Fire(self._event(fault, direction.value, summary)))
            if isinstance(fault, ConnectionFault):
                self._connection_fault(fault, direction, summary)

    def _release_held(self, side: _Side) -> None:
        """One more message passed: send each held message whose count ran out."""
        if not side.held:
            return
        for entry in side.held:
            entry.remaining -= 1
        for entry in [e for e in side.held if e.remaining <= 0]:
            side.held.remove(entry)
            self._emit(Write(side.direction, entry.data))

    @staticmethod
    def _reframe(direction: Direction, opcode: int, payload: bytes) -> bytes:
        return encode_frame(opcode, payload, mask=direction is TO_SERVER)

    # ------------------------------------------------------------------ connection faults

    def _connection_fault(self, fault: ConnectionFault, direction: Direction, summary: str) -> None:
        if isinstance(fault, Cut):
            self.state = "dead"
            self._emit(Reset())
        elif isinstance(fault, Close):
            towards = TO_CLIENT if fault.to == "client" else TO_SERVER
            other = towards.reverse
            self._emit(Write(towards, encode_frame(OP_CLOSE, close_payload(fault.code, fault.reason),
                                                   mask=towards is TO_SERVER)))  # fmt: skip
            self._emit(Write(other, encode_frame(OP_CLOSE, close_payload(*OTHER_SIDE_CLOSE), mask=other is TO_SERVER)))
            self._emit(HangUp(other))
            self.state = "closing"
            self._closing = (towards, fault.handshake)
        elif isinstance(fault, Blackhole):
            self.state = "frozen"
            self._frozen_by = (fault, direction.value, summary)
            self._emit(Freeze(None if fault.duration_ms is None else fault.duration_ms / 1000))
        elif isinstance(fault, MutePongs):
            self._mute_pongs = True

    def _while_closing(self, direction: Direction, frame: RawFrame) -> None:
        """After a ``close`` fault only the close reply of the side it was sent to matters."""
        assert self._closing is not None
        towards, handshake = self._closing
        if handshake and direction is towards.reverse and frame.opcode == OP_CLOSE:
            self.state = "dead"
            self._emit(HangUp(towards))

    # ------------------------------------------------------------------ output

    def _emit(self, action: Action) -> None:
        out = self._frozen_actions if self.state == "frozen" and not isinstance(action, Freeze) else self._out
        if out and type(action) is Write:
            last = out[-1]
            if type(last) is Write and last.to is action.to:
                last.data += action.data  # one write per destination and read
                return
        out.append(action)

    def _event(self, fault: Fault, direction: str, summary: str, phase: str = "fire") -> FaultEvent:
        trigger = fault.trigger
        return FaultEvent(self._clock(), fault.kind, trigger.spec, trigger.nth, self.conn, direction, summary,
                          phase, fault.params())  # fmt: skip
