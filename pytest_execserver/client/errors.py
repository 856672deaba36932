"""Typed errors raised by the exec-server client."""

from __future__ import annotations

from typing import Any


class ExecServerError(Exception):
    """A JSON-RPC error response from the server."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(f"{message} (code {code})")
        self.code = code
        self.message = message
        self.data = data


class TransportError(ConnectionError):
    """The connection to the server is gone and could not be (or was not) recovered."""


class RecoveryError(TransportError):
    """Recovery could not restore a consistent state (lost events, unknown start outcome, ...)."""


class SessionLost(RecoveryError):
    """The server no longer has the session (restarted, or its detached TTL expired): it refused the resume,
    so every process of the session is gone. Terminal: reported at the first refusal, not retried."""


class StartOutcomeUnknown(RecoveryError):
    """The transport dropped while ``process/start`` was in flight; it is never re-sent blindly."""


class RequestTimeout(TransportError, TimeoutError):
    """A request got no response within its timeout; its outcome is unknown."""


SESSION_ALREADY_ATTACHED = -32010
"""JSON-RPC error code for ``initialize`` with a ``resumeSessionId`` that is still attached elsewhere."""
