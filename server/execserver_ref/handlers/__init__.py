"""Method table: each route names its init family, its params schema and its coroutine."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from execserver_ref.params import Kind

if TYPE_CHECKING:
    from execserver_ref.connection import Connection

Handler = Callable[["Connection", Any], Awaitable[Any]]


@dataclass(frozen=True)
class Route:
    family: str | None  # None: no initialize requirement (initialize itself)
    schema: Kind
    handler: Handler


def build_routes() -> dict[str, Route]:
    from execserver_ref.handlers import environment, fs, process

    routes: dict[str, Route] = {}
    routes.update(process.ROUTES)
    routes.update(fs.ROUTES)
    routes.update(environment.ROUTES)
    return routes
