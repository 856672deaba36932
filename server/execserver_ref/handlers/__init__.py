"""Method table: each route names its init family, its params schema and its coroutine."""

from __future__ import annotations

from execserver_ref.routing import Route


def build_routes() -> dict[str, Route]:
    from execserver_ref.handlers import environment, fs, process

    routes: dict[str, Route] = {}
    routes.update(process.ROUTES)
    routes.update(fs.ROUTES)
    routes.update(environment.ROUTES)
    return routes
