"""The Toxiproxy 2.12 HTTP API on aiohttp: routes, status codes and bodies as the Go server sends them."""

from __future__ import annotations

import asyncio
import contextlib
import random
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from pytoxiproxy import VERSION, errors, gojson
from pytoxiproxy.log import Logger
from pytoxiproxy.proxies import ProxyCollection

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_XID_ALPHABET = "0123456789abcdefghijklmnopqrstuv"


def _request_id() -> str:
    return "".join(secrets.choice(_XID_ALPHABET) for _ in range(20))


def json_response(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=gojson.dumps(data).encode(), status=status, content_type="application/json")


def error_response(error: errors.ApiError) -> web.Response:
    """Go's http.Error: the JSON error plus a newline, sent as text/plain."""
    body = gojson.dumps(error.to_json()) + "\n"
    return web.Response(
        body=body.encode(),
        status=error.status,
        headers={"Content-Type": "text/plain; charset=utf-8", "X-Content-Type-Options": "nosniff"},
    )


def _plain(status: int, text: str) -> web.Response:
    return web.Response(
        body=text.encode(),
        status=status,
        headers={"Content-Type": "text/plain; charset=utf-8", "X-Content-Type-Options": "nosniff"},
    )


class ApiServer:
    """Routes requests to the proxy collection; every change is serialised by one lock."""

    def __init__(self, log: Logger, rng: random.Random, metrics: bool = False) -> None:
        self.log = log
        self.collection = ProxyCollection(log, rng)
        self.lock = asyncio.Lock()
        self.metrics = metrics

    def app(self) -> web.Application:
        # No body size limit (0), as Go reads any body: a limit would reject what the real server accepts.
        app = web.Application(middlewares=[self._middleware], client_max_size=0)
        app.on_response_prepare.append(_strip_server_header)
        routes = [
            ("POST", "/reset", self.reset),
            ("GET", "/proxies", self.proxy_index),
            ("POST", "/proxies", self.proxy_create),
            ("POST", "/populate", self.populate),
            ("GET", "/proxies/{proxy}", self.proxy_show),
            ("POST", "/proxies/{proxy}", self.proxy_update),
            ("PATCH", "/proxies/{proxy}", self.proxy_update),
            ("DELETE", "/proxies/{proxy}", self.proxy_delete),
            ("GET", "/proxies/{proxy}/toxics", self.toxic_index),
            ("POST", "/proxies/{proxy}/toxics", self.toxic_create),
            ("GET", "/proxies/{proxy}/toxics/{toxic}", self.toxic_show),
            ("POST", "/proxies/{proxy}/toxics/{toxic}", self.toxic_update),
            ("PATCH", "/proxies/{proxy}/toxics/{toxic}", self.toxic_update),
            ("DELETE", "/proxies/{proxy}/toxics/{toxic}", self.toxic_delete),
            ("GET", "/version", self.version),
        ]
        if self.metrics:
            routes.append(("GET", "/metrics", self.metrics_handler))
        for method, path, handler in routes:
            app.router.add_route(method, path, handler)
        return app

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.headers.get("User-Agent", "").startswith("Mozilla/"):
            response: web.StreamResponse = _plain(403, "User agent not allowed\n")
        elif any("/" in value for value in request.match_info.values()):
            # Go's router matches the decoded path: a name holding %2F is no route at all.
            response = _plain(404, "404 page not found\n")
        else:
            try:
                response = await handler(request)
            except errors.ApiError as exc:
                response = error_response(exc)
            except web.HTTPMethodNotAllowed:
                response = web.Response(status=405)
            except web.HTTPNotFound:
                response = _plain(404, "404 page not found\n")
        response.headers["X-Toxiproxy-Request-Id"] = _request_id()
        return response

    # -- proxies --------------------------------------------------------------------------------
    async def proxy_index(self, request: web.Request) -> web.Response:
        proxies = self.collection.proxies
        return json_response({name: proxies[name].to_json() for name in sorted(proxies)})

    async def proxy_create(self, request: web.Request) -> web.Response:
        body = await request.read()
        async with self.lock:
            proxy = await self.collection.create(body)
        return json_response(proxy.to_json(), status=201)

    async def populate(self, request: web.Request) -> web.Response:
        body = await request.read()
        async with self.lock:
            proxies, error = await self.collection.populate(body)
        data: dict[str, Any] = error.to_json() if error else {}
        data["proxies"] = [proxy.to_json() for proxy in proxies] or None
        return json_response(data, status=error.status if error else 201)

    async def proxy_show(self, request: web.Request) -> web.Response:
        return json_response(self.collection.get(request.match_info["proxy"]).to_json())

    async def proxy_update(self, request: web.Request) -> web.Response:
        body = await request.read()
        async with self.lock:
            proxy = await self.collection.update(request.match_info["proxy"], body)
        return json_response(proxy.to_json())

    async def proxy_delete(self, request: web.Request) -> web.Response:
        async with self.lock:
            await self.collection.remove(request.match_info["proxy"])
        return web.Response(status=204)

    async def reset(self, request: web.Request) -> web.Response:
        """Re-enable every proxy and remove every toxic."""
        async with self.lock:
            for proxy in list(self.collection.proxies.values()):
                with contextlib.suppress(errors.ProxyAlreadyStarted):
                    await proxy.start()
                proxy.toxics.reset()
        return web.Response(status=204)

    # -- toxics -----------------------------------------------------------------------------------
    async def toxic_index(self, request: web.Request) -> web.Response:
        proxy = self.collection.get(request.match_info["proxy"])
        return json_response([toxic.to_json(gojson.float32_json) for toxic in proxy.toxics.all()])

    async def toxic_create(self, request: web.Request) -> web.Response:
        body = await request.read()
        async with self.lock:
            proxy = self.collection.get(request.match_info["proxy"])
            toxic = proxy.toxics.add_json(body)
        return json_response(toxic.to_json(gojson.float32_json))

    async def toxic_show(self, request: web.Request) -> web.Response:
        proxy = self.collection.get(request.match_info["proxy"])
        toxic = proxy.toxics.get(request.match_info["toxic"])
        if toxic is None:
            raise errors.TOXIC_NOT_FOUND
        return json_response(toxic.to_json(gojson.float32_json))

    async def toxic_update(self, request: web.Request) -> web.Response:
        body = await request.read()
        async with self.lock:
            proxy = self.collection.get(request.match_info["proxy"])
            toxic = proxy.toxics.update_json(request.match_info["toxic"], body)
        return json_response(toxic.to_json(gojson.float32_json))

    async def toxic_delete(self, request: web.Request) -> web.Response:
        async with self.lock:
            proxy = self.collection.get(request.match_info["proxy"])
            proxy.toxics.remove(request.match_info["toxic"])
        return web.Response(status=204)

    # -- misc --------------------------------------------------------------------------------------
    async def version(self, request: web.Request) -> web.Response:
        body = f'{{"version": "{VERSION}"}}\n'
        return web.Response(body=body.encode(), headers={"Content-Type": "application/json;charset=utf-8"})

    async def metrics_handler(self, request: web.Request) -> web.Response:
        """A minimal Prometheus exposition: one gauge per proxy for open connections."""
        lines = [
            "# HELP toxiproxy_proxy_connections Open connections per proxy.",
            "# TYPE toxiproxy_proxy_connections gauge",
        ]
        for name, proxy in sorted(self.collection.proxies.items()):
            lines.append(f'toxiproxy_proxy_connections{{proxy="{name}"}} {len(proxy.connections)}')
        return web.Response(text="\n".join(lines) + "\n", content_type="text/plain")


async def _strip_server_header(request: web.Request, response: web.StreamResponse) -> None:
    response.headers.popall("Server", None)
