"""The connection state machine, without I/O: what each incoming frame means, and the init rules.

:class:`ConnectionRules` takes frames in and says what to do with each (:class:`Inbound`): send a reply
(an unparsable frame), dispatch a request, accept a notification, or drop the connection (what codex does
on a client response, an unknown notification, or ``initialized`` before ``initialize``). It owns the
rules every method call is checked against:

* ``initialize`` once per connection (a failed one, e.g. an unknown ``resumeSessionId``, may be retried);
* ``initialized`` only after ``initialize``;
* every other method family needs ``initialize``, a session still attached to this connection (a resume
  by another connection takes it away) and ``initialized``.

``connection.py`` is the asyncio loop around it: it reads frames, runs handlers, writes frames.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from execserver_ref.envelope import (
    INVALID_REQUEST,
    ClientReply,
    FrameError,
    Message,
    Notification,
    Request,
    encode_error,
    invalid_request,
    parse_frame,
)


class Verdict(enum.Enum):
    REPLY = "reply"  # send ``Inbound.reply`` (the frame was not a JSON-RPC message)
    DISPATCH = "dispatch"  # run the request ``Inbound.message``
    ACCEPT = "accept"  # a notification that needs nothing more
    DROP = "drop"  # drop the connection without a close frame (``Inbound.reason`` says why)


@dataclass(frozen=True)
class Inbound:
    verdict: Verdict
    message: Message | None = None
    reply: str | None = None
    reason: str | None = None


class ConnectionRules:
    """Init state of one connection; ``label`` names the peer in parse-error messages, like codex."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.initialize_requested = False
        self.initialized = False

    def receive(self, data: str | bytes) -> Inbound:
        """Classify one websocket frame (text or binary)."""
        try:
            message = parse_frame(data)
        except FrameError as exc:
            reply = encode_error(
                -1, INVALID_REQUEST, f"failed to parse websocket JSON-RPC message from {self.label}: {exc}"
            )
            return Inbound(Verdict.REPLY, reply=reply)
        if isinstance(message, Request):
            return Inbound(Verdict.DISPATCH, message)
        if isinstance(message, ClientReply):
            return Inbound(Verdict.DROP, message, reason="unexpected client response/error")
        assert isinstance(message, Notification)
        if message.method != "initialized":
            return Inbound(Verdict.DROP, message, reason=f"unexpected notification: {message.method[:200]}")
        if not self.initialize_requested:
            return Inbound(Verdict.DROP, message, reason="`initialized` before `initialize`")
        self.initialized = True
        return Inbound(Verdict.ACCEPT, message)

    def begin_initialize(self) -> None:
        """An ``initialize`` request arrived; raises the error to answer if it is not allowed."""
        if self.initialize_requested:
            raise invalid_request("initialize may only be sent once per connection")
        self.initialize_requested = True

    def initialize_failed(self) -> None:
        """The session could not be created or resumed: the client may try ``initialize`` again."""
        self.initialize_requested = False

    def check_ready(self, family: str, has_session: bool, attached: bool) -> None:
        """Raise the error to answer if a method of ``family`` may not run now.

        ``has_session``: initialize succeeded; ``attached``: the session is still attached here."""
        if not self.initialize_requested:
            raise invalid_request(f"client must call initialize before using {family} methods")
        if not has_session:
            raise invalid_request("client must call initialize before using methods")
        if not attached:
            raise invalid_request("session has been resumed by another connection")
        if not self.initialized:
            raise invalid_request(f"client must send initialized before using {family} methods")
