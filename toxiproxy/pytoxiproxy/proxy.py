"""A named proxy: its listener, its open connections and its toxics (Go's Proxy)."""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
from typing import Any

from pytoxiproxy import errors, gojson
from pytoxiproxy.connection import Connection, split_host_port
from pytoxiproxy.log import Logger
from pytoxiproxy.toxic_collection import ToxicCollection


class ListenError(Exception):
    """The listen address could not be bound; worded like Go's net.Listen error."""


def format_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def open_listener(address: str) -> socket.socket:
    """Bind a listening socket like Go's net.Listen("tcp", address), IPv4 preferred for names."""
    try:
        host, port = split_host_port(address) if address else ("", 0)
    except ValueError as exc:
        raise ListenError(f"listen tcp: {exc}") from exc
    if host == "":
        candidates = [(socket.AF_INET6, "::"), (socket.AF_INET, "0.0.0.0")]
    else:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        except socket.gaierror as exc:
            raise ListenError(f"listen tcp: lookup {host}: no such host") from exc
        infos.sort(key=lambda info: info[0] != socket.AF_INET)
        candidates = [(info[0], str(info[4][0])) for info in infos[:1]]
    last: ListenError | None = None
    for family, ip in candidates:
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6 and host == "":
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            sock.bind((ip, port))
            sock.listen(4096)
            sock.setblocking(False)
            return sock
        except OSError as exc:
            sock.close()
            last = ListenError(
                f"listen tcp {format_address(ip, port)}: bind: {(exc.strerror or str(exc)).lower()}"
            )
    assert last is not None
    raise last


class Proxy:
    """Listens on ``listen`` and forwards every accepted client to ``upstream`` through its toxics."""

    def __init__(self, name: str, listen: str, upstream: str, log: Logger, rng: random.Random) -> None:
        self.name = name
        self.listen = listen
        self.upstream = upstream
        self.enabled = False
        self.log = log
        self.toxics = ToxicCollection(rng)
        self.connections: set[Connection] = set()
        self._server: asyncio.Server | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "listen": self.listen,
            "upstream": self.upstream,
            "enabled": self.enabled,
            "toxics": [toxic.to_json(gojson.float32_json) for toxic in self.toxics.all()],
        }

    async def start(self) -> None:
        """Start listening; the concrete address (real port for ``:0``) replaces ``listen``."""
        if self.enabled:
            raise errors.ProxyAlreadyStarted()
        try:
            sock = open_listener(self.listen)
        except ListenError as exc:
            raise errors.internal(str(exc)) from exc
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._new_client, sock=sock)
        host, port = sock.getsockname()[:2]
        self.listen = format_address(str(host), int(port))
        self.enabled = True
        self.log.info("Started proxy", name=self.name, proxy=self.listen, upstream=self.upstream)

    def _new_client(self) -> asyncio.Protocol:
        conn = Connection(self)
        self.connections.add(conn)
        return _AcceptedClient(conn)

    async def stop(self) -> None:
        """Stop listening and drop every open connection."""
        if not self.enabled:
            return
        self.enabled = False
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for conn in list(self.connections):
            conn.abort()
        self.connections.clear()
        if server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 1.0)
        self.log.info("Terminated proxy", name=self.name, proxy=self.listen, upstream=self.upstream)

    async def update(self, listen: str, upstream: str, enabled: bool) -> None:
        """Apply a PATCH: address changes restart the listener; ``enabled`` toggles it."""
        if listen != self.listen or upstream != self.upstream:
            await self.stop()
            self.listen = listen
            self.upstream = upstream
        if enabled != self.enabled:
            if enabled:
                await self.start()
            else:
                await self.stop()


class _AcceptedClient(asyncio.Protocol):
    """Forwards socket callbacks of an accepted client to its connection's client side."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.side = conn.client

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.side.connection_made(transport)
        if self.conn.proxy.enabled:
            self.conn.accepted()
        else:
            self.conn.abort()

    def data_received(self, data: bytes) -> None:
        self.side.data_received(data)

    def eof_received(self) -> bool:
        return self.side.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self.side.connection_lost(exc)

    def pause_writing(self) -> None:
        self.side.pause_writing()

    def resume_writing(self) -> None:
        self.side.resume_writing()
