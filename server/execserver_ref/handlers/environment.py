"""``environment/info``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from execserver_ref.handlers import Route
from execserver_ref.params import Unit

if TYPE_CHECKING:
    from execserver_ref.connection import Connection


async def info(conn: Connection, params: Any) -> Any:
    return conn.environment_info


ROUTES = {"environment/info": Route("environment info", Unit(), info)}
