"""What a handler sees of its connection, and the method table's row (no import of ``connection``).

The handlers are typed against ``RequestContext``, a Protocol that ``connection.Connection`` satisfies, so the
connection module imports the routes and nothing imports the connection back.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from execserver_ref.journal import Journal
from execserver_ref.params import Kind
from execserver_ref.session import ServerConfig, Session

T = TypeVar("T")


class RequestContext(Protocol):
    """The connection as one request's handler uses it."""

    @property
    def config(self) -> ServerConfig: ...

    @property
    def journal(self) -> Journal | None: ...

    @property
    def environment_info(self) -> dict[str, Any]: ...

    def require_session(self) -> Session: ...

    def after_response(self, callback: Callable[[], None]) -> None: ...

    async def race_disconnect(self, awaitable: Awaitable[T]) -> T: ...


Handler = Callable[[RequestContext, Any], Awaitable[Any]]


@dataclass(frozen=True)
class Route:
    family: str | None  # None: no initialize requirement (initialize itself)
    schema: Kind
    handler: Handler
