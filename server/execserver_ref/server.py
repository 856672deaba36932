"""The websocket server: HTTP hook (``/readyz``, Origin 403, bearer auth), connections, clean shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from http import HTTPStatus

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from execserver_ref.auth import Authenticator
from execserver_ref.bugs import NO_BUGS, Bugs
from execserver_ref.connection import Connection, ServerContext
from execserver_ref.handlers import build_routes
from execserver_ref.journal import Journal
from execserver_ref.session import ServerConfig
from execserver_ref.tracing import Tracing

log = logging.getLogger("execserver_ref.server")

MAX_FRAME_BYTES = 16 * 1024 * 1024  # tungstenite's default max frame size
PING_INTERVAL_S = 30.0


def _respond(status: HTTPStatus, body: str = "") -> Response:
    headers = Headers()
    if body:
        headers["Content-Type"] = "text/plain; charset=utf-8"
    headers["Content-Length"] = str(len(body.encode()))
    headers["Connection"] = "close"
    return Response(status.value, status.phrase, headers, body.encode())


def make_process_request(auth: Authenticator | None, bugs: Bugs = NO_BUGS):  # type: ignore[no-untyped-def]
    def process_request(connection: ServerConnection, request: Request) -> Response | None:
        path = request.path.split("?", 1)[0]
        if path == "/readyz":
            return _respond(HTTPStatus.OK)
        if "Origin" in request.headers and not bugs.ignore_origin:
            return _respond(HTTPStatus.FORBIDDEN)
        if path != "/":
            return _respond(HTTPStatus.NOT_FOUND)
        if auth is not None:
            values = request.headers.get_all("Authorization")
            problem = auth.check(values[0] if values else None)
            if problem is not None:
                return _respond(HTTPStatus.UNAUTHORIZED, problem)
        if "upgrade" not in request.headers.get("Connection", "").lower():
            return _respond(HTTPStatus.BAD_REQUEST, "Connection header did not include 'upgrade'")
        return None

    return process_request


def parse_listen(url: str) -> tuple[str, int]:
    if not url.startswith("ws://"):
        raise ValueError(f"unsupported --listen URL {url!r}: expected ws://IP:PORT")
    hostport = url.removeprefix("ws://").rstrip("/")
    host, sep, port = hostport.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"unsupported --listen URL {url!r}: expected ws://IP:PORT")
    return host.strip("[]"), int(port)


async def run_server(
    listen: str, config: ServerConfig, auth: Authenticator | None, tracing: Tracing, journal: Journal | None = None
) -> int:
    host, port = parse_listen(listen)
    ctx = ServerContext(config, build_routes(), tracing, journal)

    async def handler(ws: ServerConnection) -> None:
        connection = Connection(ws, ctx)
        ctx.connections.add(connection)
        try:
            await connection.run()
        finally:
            ctx.connections.discard(connection)

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        loop.add_signal_handler(sig, stop.set)
    server: Server | None = None
    try:
        server = await serve(
            handler,
            host,
            port,
            process_request=make_process_request(auth, config.bugs),
            max_size=None if config.bugs.no_frame_limit else MAX_FRAME_BYTES,
            max_queue=16,
            compression=None,
            ping_interval=PING_INTERVAL_S,
            ping_timeout=None,
            server_header=None,
        )
        sockname = server.sockets[0].getsockname()
        bound_host = f"[{sockname[0]}]" if ":" in sockname[0] else sockname[0]
        sys.stdout.write(f"ws://{bound_host}:{sockname[1]}\n")
        sys.stdout.flush()
        log.info("listening on ws://%s:%s", bound_host, sockname[1])
        await stop.wait()
        log.info("shutting down")
        return 0
    finally:
        ctx.registry.shutdown()  # kill every process group: no orphans
        if server is not None:
            server.close(close_connections=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(server.wait_closed(), 2)
        tracing.shutdown()
        if journal is not None:
            journal.close()
