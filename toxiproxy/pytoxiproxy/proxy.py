"""A named proxy: its listener, its open connections and its toxics (Go's Proxy)."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import ipaddress
import random
import socket
from typing import Any

from pytoxiproxy import errors, gojson
from pytoxiproxy.connection import Connection, split_host_port
from pytoxiproxy.log import Logger
from pytoxiproxy.toxic_collection import ToxicCollection

_ACCEPT_BATCH = 100  # accepts per readable event, as asyncio's own servers do
_ACCEPT_RETRY_S = 0.1


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


async def resolve_tcp_addr(address: str) -> str:
    """Go's ``net.ResolveTCPAddr("tcp", address).String()`` (IPv4 preferred); errors worded like Go's."""
    try:
        host, port = split_host_port(address)
    except ValueError as exc:
        raise ListenError(str(exc)) from exc
    if host == "":
        return f":{port}"
    try:
        return format_address(str(ipaddress.ip_address(host)), port)
    except ValueError:
        pass
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise ListenError(f"lookup {host}: no such host") from exc
    infos.sort(key=lambda info: info[0] != socket.AF_INET)
    return format_address(str(infos[0][4][0]), port)


class Proxy:
    """Listens on ``listen`` and forwards every accepted client to ``upstream`` through its toxics."""

    def __init__(self, name: str, listen: str, upstream: str, log: Logger, rng: random.Random) -> None:
        self.name = name
        self.listen = listen
        self.upstream = upstream
        self.enabled = False
        self.log = log
        self.toxics = ToxicCollection(rng)
        # Every connection accepted by the current listener, from the accept() itself (before asyncio
        # has a transport for it or its upstream is dialled) until both of its sockets are closed.
        self.connections: set[Connection] = set()
        self._listener: socket.socket | None = None
        # Listener generation, bumped on every start and stop: a client accepted by a listener that
        # has since been stopped (even if the proxy was re-enabled meanwhile) is never served.
        self._epoch = 0
        self._accepting = False

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "listen": self.listen,
            "upstream": self.upstream,
            "enabled": self.enabled,
            # Go 2.12 marshals its exported *zerolog.Logger field as an empty object; clients see it.
            "Logger": {},
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
        # Our own accept loop rather than loop.create_server(): asyncio's server hands an accepted
        # socket to the protocol factory one task step later, and if the server was closed in
        # between it drops the socket silently (Server._attach asserts; _accept_connection2
        # swallows it) -- the client then stays connected to nothing until a GC.
        self._epoch += 1
        self._accepting = True
        self._listener = sock
        asyncio.get_running_loop().add_reader(sock.fileno(), self._accept_ready, sock, self._epoch)
        host, port = sock.getsockname()[:2]
        self.listen = format_address(str(host), int(port))
        self.enabled = True
        self.log.info("Started proxy", name=self.name, proxy=self.listen, upstream=self.upstream)

    def accepts(self, epoch: int) -> bool:
        """Whether a client accepted by listener generation ``epoch`` may still be served."""
        return self._accepting and epoch == self._epoch

    def _accept_ready(self, sock: socket.socket, epoch: int) -> None:
        """The listener is readable: accept what is queued and track each client at once."""
        for _ in range(_ACCEPT_BATCH):
            if not self.accepts(epoch):
                return
            try:
                client, _ = sock.accept()
            except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                return
            except OSError as exc:
                self.log.error("Error while accepting client", proxy=self.listen, error=str(exc))
                if exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    self._pause_accepting(sock, epoch)
                return
            conn = Connection(self, epoch)
            self.connections.add(conn)
            conn.adopt(client, functools.partial(_AcceptedClient, conn))

    def _pause_accepting(self, sock: socket.socket, epoch: int) -> None:
        """Out of descriptors: stop polling the listener for a moment instead of spinning."""
        loop = asyncio.get_running_loop()
        loop.remove_reader(sock.fileno())

        def resume() -> None:
            if self.accepts(epoch) and self._listener is sock:
                loop.add_reader(sock.fileno(), self._accept_ready, sock, epoch)

        loop.call_later(_ACCEPT_RETRY_S, resume)

    def _abort_all(self) -> None:
        while self.connections:
            self.connections.pop().abort()

    async def stop(self) -> None:
        """Close the listener and every connection, including ones still being set up."""
        if not self.enabled:
            return
        self.enabled = False
        self._accepting = False
        self._epoch += 1
        sock, self._listener = self._listener, None
        if sock is not None:
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_reader(sock.fileno())
            sock.close()  # the kernel resets clients still queued on it
        self._abort_all()
        self.log.info("Terminated proxy", name=self.name, proxy=self.listen, upstream=self.upstream)

    async def differs(self, listen: str, upstream: str) -> bool:
        """Go's Proxy.Differs: the *resolved* listen address or the upstream changed (a 500 if unresolvable)."""
        try:
            resolved = await resolve_tcp_addr(listen)
        except ListenError as exc:
            raise errors.internal(str(exc)) from exc
        return resolved != self.listen or upstream != self.upstream

    async def update(self, listen: str, upstream: str, enabled: bool) -> None:
        """Apply a PATCH: address changes restart the listener; ``enabled`` toggles it.

        The new address is resolved first, as in Go: an unresolvable one changes nothing, and a host name
        naming the current address does not restart the proxy.
        """
        if await self.differs(listen, upstream):
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
        conn = self.conn
        if not conn.closed and conn.proxy.accepts(conn.epoch):
            conn.client_ready()
        else:
            conn.abort()  # the proxy was stopped (maybe restarted) since this socket was accepted

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
