"""``environment/info``."""

from __future__ import annotations

from typing import Any

from execserver_ref.params import Unit
from execserver_ref.routing import RequestContext, Route


async def info(conn: RequestContext, params: Any) -> Any:
    return conn.environment_info


ROUTES = {"environment/info": Route("environment info", Unit(), info)}
