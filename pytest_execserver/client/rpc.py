"""JSON-RPC bookkeeping: pending calls, replay policy and response decoding (no I/O)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pytest_execserver.client.errors import ExecServerError

if TYPE_CHECKING:
    from pytest_execserver.client.transport import Transport

REPLAYABLE_METHODS = frozenset({"process/read", "process/write"})
"""Methods re-sent after a reconnect: reads are idempotent, writes carry a ``writeId`` the server dedupes."""


@dataclass
class PendingCall:
    """A request awaiting its response."""

    id: int
    method: str
    frame: dict[str, Any]
    future: asyncio.Future[Any]
    transport: Transport | None = None
    process_id: str | None = None
    replayed: int = field(default=0)

    @property
    def replayable(self) -> bool:
        return self.method in REPLAYABLE_METHODS


def error_from_frame(frame: dict[str, Any]) -> ExecServerError:
    """The :class:`ExecServerError` of an error response (tolerates malformed error objects)."""
    error = frame.get("error")
    if not isinstance(error, dict):
        return ExecServerError(-32603, f"malformed error response: {error!r}")
    code = error.get("code")
    return ExecServerError(
        int(code) if isinstance(code, int) else -32603, str(error.get("message", "")), error.get("data")
    )


def is_response(frame: dict[str, Any]) -> bool:
    return "id" in frame and "method" not in frame


def is_notification(frame: dict[str, Any]) -> bool:
    return "method" in frame and "id" not in frame


def is_server_request(frame: dict[str, Any]) -> bool:
    return "method" in frame and "id" in frame
