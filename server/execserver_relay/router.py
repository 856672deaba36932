"""The rendezvous relay's routing, sans I/O: connections in, frames in, actions out.

One executor ("environment" role) websocket per environment id; any number of client ("harness")
websockets. A harness claims a stream by sending its first frame for a new ``stream_id`` (codex sends
``resume`` then ``handshake``); from then on the relay copies frames of that stream between the claiming
harness and the environment's executor, as the exact bytes received. Frames from the executor for a
stream nobody claimed are dropped (journalled ``unroutable``). When either end goes away, the other end
gets ``reset(peer_disconnected)`` for each of its streams. An invalid frame closes its sender (1008).

The asyncio layer (``app.py``) calls :meth:`RelayRouter.open` / :meth:`receive` / :meth:`close` and
performs the returned :class:`Send` / :class:`Close` actions in order, and writes :class:`Event` s to the
journal. The fault plan (``faults.py``) is applied here, so every fault is testable without a socket.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from execserver_relay.faults import FaultPlan, FrameFault
from execserver_relay.frames import Frame, FrameError, parse_frame, reset_frame

PEER_DISCONNECTED = "peer_disconnected"
ROUTE_UNAVAILABLE = "route_unavailable"
STREAM_TAKEN = "stream_owned_by_another_harness"
REJECTION_HEADER = "x-codex-rendezvous-rejection-reason"


@dataclass(frozen=True)
class Send:
    """Send ``data`` on connection ``conn`` after ``delay_s`` (later sends on ``conn`` wait behind it)."""

    conn: int
    data: bytes
    delay_s: float = 0.0


@dataclass(frozen=True)
class Close:
    """Close connection ``conn`` with a websocket close code."""

    conn: int
    code: int = 1000
    reason: str = ""


@dataclass(frozen=True)
class Event:
    """A journal record (``event`` plus fields)."""

    event: str
    fields: dict[str, Any] = field(default_factory=dict)


Action = Send | Close | Event


@dataclass(frozen=True)
class Admit:
    """The upgrade is accepted; the connection is known as ``conn``."""

    conn: int


@dataclass(frozen=True)
class Reject:
    """The upgrade is refused with ``status`` and the rejection-reason header."""

    status: int
    reason: str

    @property
    def headers(self) -> dict[str, str]:
        return {REJECTION_HEADER: self.reason}


@dataclass
class _Conn:
    conn: int
    role: str
    environment_id: str
    streams: set[str] = field(default_factory=set)


@dataclass
class _Stream:
    stream_id: str
    environment_id: str
    harness: int
    held: dict[str, bytes] = field(default_factory=dict)  # direction -> a frame held back by "reorder"


class RelayRouter:
    """Routing state of one relay (see the module docstring)."""

    def __init__(self, plan: FaultPlan | None = None) -> None:
        self.plan = plan if plan is not None else FaultPlan()
        self._next_conn = 0
        self._conns: dict[int, _Conn] = {}
        self._executors: dict[str, int] = {}  # environment id -> its executor's conn
        self._streams: dict[str, _Stream] = {}
        self._refuse_next_executor: set[str | None] = set()  # reregister: None means every environment
        self.registered: set[str] = set()  # environment ids the registry has seen; others are unknown routes

    # -- connections --------------------------------------------------------------------------------

    def open(self, role: str | None, environment_id: str | None) -> tuple[Admit | Reject, list[Action]]:
        """An upgrade request for ``/relay?role=...&environment_id=...``: admit it or refuse it."""
        if not role:
            return self._reject(400, "missing_role", role, environment_id)
        if role not in ("environment", "harness"):
            return self._reject(400, "invalid_role", role, environment_id)
        if not environment_id or environment_id not in self.registered:
            return self._reject(404, "unknown_route", role, environment_id)
        if role == "environment" and ({None, environment_id} & self._refuse_next_executor):
            self._refuse_next_executor -= {None, environment_id}
            return self._reject(404, "unknown_route", role, environment_id)
        fault = self.plan.upgrade_rejection(role)
        if fault is not None:
            return self._reject(fault.status, fault.reason, role, environment_id, injected=True)
        self._next_conn += 1
        conn = _Conn(self._next_conn, role, environment_id)
        self._conns[conn.conn] = conn
        actions: list[Action] = []
        if role == "environment":
            old = self._executors.get(environment_id)
            if old is not None:
                actions += [Close(old, 1000, "replaced by a newer executor connection"), *self.close(old)]
            self._executors[environment_id] = conn.conn
        actions.insert(0, Event("ws_open", {"conn": conn.conn, "role": role, "environment_id": environment_id}))
        return Admit(conn.conn), actions

    def _reject(self, status: int, reason: str, role: str | None, environment_id: str | None,
                injected: bool = False) -> tuple[Reject, list[Action]]:
        event = Event("ws_reject", {"role": role, "environment_id": environment_id, "status": status,
                                    "reason": reason, "injected": injected})
        return Reject(status, reason), [event]

    def close(self, conn_id: int) -> list[Action]:
        """Connection ``conn_id`` is gone: reset its streams at their other ends."""
        conn = self._conns.pop(conn_id, None)
        if conn is None:
            return []
        actions: list[Action] = [Event("ws_close", {"conn": conn_id, "role": conn.role,
                                                    "environment_id": conn.environment_id})]
        if conn.role == "environment":
            if self._executors.get(conn.environment_id) == conn_id:
                del self._executors[conn.environment_id]
            gone = [s for s in self._streams.values() if s.environment_id == conn.environment_id]
        else:
            gone = [self._streams[s] for s in conn.streams if s in self._streams]
        for stream in gone:
            actions += self._end_stream(stream, PEER_DISCONNECTED, skip=conn_id)
        return actions

    def reregister(self, environment_id: str | None = None) -> list[Action]:
        """Close the executor's websocket and refuse its next upgrade, so that it registers again."""
        self._refuse_next_executor.add(environment_id)
        actions: list[Action] = [Event("fault", {"kind": "reregister", "environment_id": environment_id})]
        for env, conn in list(self._executors.items()):
            if environment_id in (None, env):
                actions += [Close(conn, 1012, "reregister"), *self.close(conn)]
        return actions

    # -- frames -------------------------------------------------------------------------------------

    def receive(self, conn_id: int, raw: bytes) -> list[Action]:
        """One binary message from connection ``conn_id``."""
        conn = self._conns.get(conn_id)
        if conn is None:
            return []
        try:
            frame = parse_frame(raw)
        except FrameError as exc:
            return [Event("invalid_frame", {"conn": conn_id, "role": conn.role, "error": str(exc)}),
                    Close(conn_id, 1008, str(exc)[:120]), *self.close(conn_id)]
        if conn.role == "harness":
            return self._from_harness(conn, frame)
        return self._from_environment(conn, frame)

    def _from_harness(self, conn: _Conn, frame: Frame) -> list[Action]:
        actions: list[Action] = []
        stream = self._streams.get(frame.stream_id)
        if stream is None:
            if frame.kind == "reset":
                return [self._frame_event("to_environment", frame, conn.conn, routed=False)]
            stream = _Stream(frame.stream_id, conn.environment_id, conn.conn)
            self._streams[frame.stream_id] = stream
            conn.streams.add(frame.stream_id)
            actions.append(Event("stream_open", {"stream_id": frame.stream_id, "harness": conn.conn,
                                                 "environment_id": conn.environment_id, "first": frame.kind}))
        elif stream.harness != conn.conn:
            return [self._frame_event("to_environment", frame, conn.conn, routed=False),
                    Send(conn.conn, reset_frame(frame.stream_id, STREAM_TAKEN))]
        executor = self._executors.get(stream.environment_id)
        if executor is None:
            return [*actions, self._frame_event("to_environment", frame, conn.conn, routed=False),
                    *self._end_stream(stream, ROUTE_UNAVAILABLE)]
        return actions + self._forward(stream, "to_environment", frame, conn.conn, executor)

    def _from_environment(self, conn: _Conn, frame: Frame) -> list[Action]:
        stream = self._streams.get(frame.stream_id)
        if stream is None or stream.environment_id != conn.environment_id:
            return [Event("unroutable", {"stream_id": frame.stream_id, "kind": frame.kind, "conn": conn.conn})]
        return self._forward(stream, "to_harness", frame, conn.conn, stream.harness)

    def _forward(self, stream: _Stream, direction: str, frame: Frame, source: int, dest: int) -> list[Action]:
        fault = self.plan.frame_action(direction, frame.kind)
        actions: list[Action] = [self._frame_event(direction, frame, source, routed=fault is None)]
        if frame.kind == "reset":
            actions.append(Send(dest, frame.raw))
            return actions + self._forget(stream)
        held = stream.held.pop(direction, None)  # a frame held back by "reorder" goes after this one
        if fault is None:
            actions.append(Send(dest, frame.raw))
        else:
            actions += self._apply(fault, stream, direction, frame, dest)
        if held is not None:
            actions.append(Send(dest, held))
        return actions

    def _apply(self, fault: FrameFault, stream: _Stream, direction: str, frame: Frame,
               dest: int) -> list[Action]:
        note = Event("fault", {"kind": "frame", "action": fault.action, "direction": direction,
                               "frame_kind": frame.kind, "stream_id": stream.stream_id, "seq": frame.seq})
        if fault.action == "drop":
            return [note]
        if fault.action == "duplicate":
            return [note, Send(dest, frame.raw), Send(dest, frame.raw)]
        if fault.action == "delay":
            return [note, Send(dest, frame.raw, fault.delay_s)]
        if fault.action == "reorder":
            stream.held[direction] = frame.raw
            return [note]
        if fault.action == "reset":
            return [note, *self._end_stream(stream, fault.reason)]
        role = fault.action.removeprefix("cut_")
        victim = self._executors.get(stream.environment_id) if role == "environment" else stream.harness
        if victim is None:
            return [note]
        return [note, Close(victim, 1001, "cut by the relay's fault plan"), *self.close(victim)]

    def _end_stream(self, stream: _Stream, reason: str, skip: int | None = None) -> list[Action]:
        """Send ``reset(reason)`` to both ends of ``stream`` (but not ``skip``) and forget it."""
        actions: list[Action] = [Event("stream_reset", {"stream_id": stream.stream_id, "reason": reason,
                                                        "by": "relay"})]
        data = reset_frame(stream.stream_id, reason)
        ends = [stream.harness, self._executors.get(stream.environment_id)]
        actions += [Send(end, data) for end in ends if end is not None and end != skip and end in self._conns]
        return actions + self._forget(stream)

    def _forget(self, stream: _Stream) -> list[Action]:
        self._streams.pop(stream.stream_id, None)
        harness = self._conns.get(stream.harness)
        if harness is not None:
            harness.streams.discard(stream.stream_id)
        return [Event("stream_close", {"stream_id": stream.stream_id})]

    @staticmethod
    def _frame_event(direction: str, frame: Frame, source: int, *, routed: bool) -> Event:
        fields: dict[str, Any] = {"direction": direction, "kind": frame.kind, "stream_id": frame.stream_id,
                                  "bytes": frame.size, "conn": source, "routed": routed}
        if frame.seq is not None:
            fields["seq"] = frame.seq
        if frame.reason is not None:
            fields["reason"] = frame.reason
        if frame.ack:
            fields["ack"] = frame.ack
        if frame.traceparent:
            fields["traceparent"] = frame.traceparent
        return Event("frame", fields)

    # -- inspection ---------------------------------------------------------------------------------

    @property
    def streams(self) -> list[str]:
        return sorted(self._streams)

    def executor_of(self, environment_id: str) -> int | None:
        return self._executors.get(environment_id)
