"""The client's session core (sans-I/O): request ids, pending calls, what survives a lost transport, and the
classification of every incoming frame. Like python-websockets' ``Protocol``: frames in, decisions out; no
sockets, no futures, no clocks. ``ExecClient`` is the loop around it (client.py).

Calls are tagged with the *link* that carried them (any object: the client uses its transport). When a link
is lost, :meth:`SessionCore.link_lost` removes and returns the calls that cannot survive it; the rest --
``process/read`` (idempotent) and ``process/write`` (the server dedupes its ``writeId``) -- stay pending and
:meth:`SessionCore.relink` hands them back, frame unchanged, to be re-sent on the resumed session. A
``process/start`` is never re-sent: its outcome is unknown (``start_unknown``).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from pytest_execserver.client.errors import ExecServerError
from pytest_execserver.client.events import Event, parse_notification

REPLAYABLE_METHODS = frozenset({"process/read", "process/write"})
"""Methods re-sent after a reconnect: reads are idempotent, writes carry a ``writeId`` the server dedupes."""
PROCESS_EVENTS = frozenset({"process/output", "process/exited", "process/closed"})
METHOD_NOT_FOUND = -32601


@dataclass
class Call:
    """A request awaiting its response."""

    id: int
    method: str
    frame: dict[str, Any]
    link: object
    process_id: str | None = None
    replayed: int = 0

    @property
    def replayable(self) -> bool:
        return self.method in REPLAYABLE_METHODS


@dataclass(frozen=True)
class Reply:
    """The response to one of our calls: ``error`` set, or ``result``."""

    call: Call
    result: Any = None
    error: ExecServerError | None = None


@dataclass(frozen=True)
class Pushed:
    """A process notification (``process/output|exited|closed``), parsed."""

    method: str
    process_id: str
    event: Event
    params: dict[str, Any] = field(repr=False)


@dataclass(frozen=True)
class Refusal:
    """A server->client request; the client implements none, so it answers with ``frame``."""

    frame: dict[str, Any]


@dataclass(frozen=True)
class Lost:
    """A call that cannot survive its link's loss; ``start_unknown``: a ``process/start`` that may have run."""

    call: Call
    start_unknown: bool


Incoming = Reply | Pushed | Refusal


def error_from_frame(frame: dict[str, Any]) -> ExecServerError:
    """The :class:`ExecServerError` of an error response (tolerates malformed error objects)."""
    error = frame.get("error")
    if not isinstance(error, dict):
        return ExecServerError(-32603, f"malformed error response: {error!r}")
    code = error.get("code")
    return ExecServerError(
        int(code) if isinstance(code, int) else -32603, str(error.get("message", "")), error.get("data")
    )


class SessionCore:
    """Pending calls by id and the replay policy of one client session."""

    def __init__(self) -> None:
        self.calls: dict[int, Call] = {}
        self._ids = itertools.count(1)

    def request(self, method: str, params: Any, *, link: object, trace: dict[str, str] | None = None) -> Call:
        """Register a call on ``link``; send ``call.frame``."""
        rid = next(self._ids)
        frame: dict[str, Any] = {"id": rid, "method": method, "params": {} if params is None else params}
        if trace is not None:
            frame["trace"] = trace
        process_id = params.get("processId") if isinstance(params, dict) else None
        call = Call(rid, method, frame, link, process_id if isinstance(process_id, str) else None)
        self.calls[rid] = call
        return call

    def forget(self, rid: int) -> Call | None:
        """Stop waiting for ``rid`` (timed out or cancelled); a late response is then ignored."""
        return self.calls.pop(rid, None)

    def receive(self, frame: dict[str, Any]) -> Incoming | None:
        """Classify one incoming frame; None for anything to ignore (unknown ids, foreign notifications)."""
        if "method" in frame:
            if "id" in frame:
                reply = f"exec-server client does not implement `{frame.get('method')}`"
                return Refusal({"id": frame["id"], "error": {"code": METHOD_NOT_FOUND, "message": reply}})
            return self._notification(frame)
        rid = frame.get("id")
        call = self.calls.pop(rid, None) if isinstance(rid, int) else None
        if call is None:
            return None
        if "error" in frame:
            return Reply(call, error=error_from_frame(frame))
        return Reply(call, result=frame.get("result"))

    def _notification(self, frame: dict[str, Any]) -> Pushed | None:
        method, params = frame.get("method"), frame.get("params")
        if method not in PROCESS_EVENTS or not isinstance(params, dict):
            return None
        process_id = params.get("processId")
        try:
            event = parse_notification(str(method), params)
        except (KeyError, TypeError, ValueError):
            return None
        if event is None or process_id is None:
            return None
        return Pushed(str(method), str(process_id), event, params)

    def link_lost(self, link: object) -> list[Lost]:
        """``link`` is gone: remove and return its calls that cannot be replayed."""
        lost = [c for c in self.calls.values() if c.link is link and not c.replayable]
        for call in lost:
            del self.calls[call.id]
        return [Lost(c, c.method == "process/start") for c in lost]

    def relink(self, link: object) -> list[Call]:
        """The session resumed on ``link``: the replayable calls of earlier links, to re-send as they are."""
        moved = [c for c in self.calls.values() if c.replayable and c.link is not link]
        for call in moved:
            call.link = link
            call.replayed += 1
        return moved

    def drain(self) -> list[Call]:
        """Remove and return every pending call (the session failed or the client closed)."""
        calls = list(self.calls.values())
        self.calls.clear()
        return calls
