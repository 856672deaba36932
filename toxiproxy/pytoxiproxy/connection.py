"""A proxied TCP connection: the client socket, the upstream socket and the two links between them."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections.abc import Callable
from typing import Protocol

from pytoxiproxy.link import Link
from pytoxiproxy.log import Logger
from pytoxiproxy.toxic_collection import ToxicCollection
from pytoxiproxy.toxics.base import DOWNSTREAM, UPSTREAM


class ConnectionOwner(Protocol):
    """What a connection needs from its proxy (kept abstract: the proxy builds connections, not the reverse)."""

    name: str
    upstream: str
    log: Logger
    toxics: ToxicCollection
    connections: set[Connection]

    def accepts(self, epoch: int) -> bool: ...


class _Side(asyncio.Protocol):
    """Socket callbacks for one side; data is fed to the link it is the source of."""

    def __init__(self, conn: Connection, upstream_side: bool) -> None:
        self.conn = conn
        self.upstream_side = upstream_side
        self.transport: asyncio.Transport | None = None
        self.lost = False  # connection_lost was called: the socket is really closed
        # Read before its link existed, fed to the link when it does. The client is paused from
        # connection_made until then, but older CPythons ignore a pause made in connection_made
        # (CPython gh-103607: Debian 12's 3.11.2 has the bug, 3.11.7 the fix): the transport starts
        # reading right after it, and a websocket handshake sent at once was dropped here. The upstream
        # side may speak as soon as it is connected, before create_connection returns.
        self._early: list[bytes] = []
        self._early_eof = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _reading_link(self) -> Link | None:
        return self.conn.down if self.upstream_side else self.conn.up

    def _writing_link(self) -> Link | None:
        return self.conn.up if self.upstream_side else self.conn.down

    def data_received(self, data: bytes) -> None:
        link = self._reading_link()
        if link is not None:
            link.feed(data)
        else:
            self._early.append(data)

    def eof_received(self) -> bool:
        link = self._reading_link()
        if link is not None:
            link.feed_eof()
        else:
            self._early_eof = True
        return True  # keep the socket open for writing until the other direction finishes

    def feed_early(self) -> None:
        """Feed the link what was read before it existed (see ``_early``)."""
        link = self._reading_link()
        assert link is not None
        early, self._early = self._early, []
        for data in early:
            link.feed(data)
        if self._early_eof:
            link.feed_eof()

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        link = self._reading_link()
        if link is not None:
            link.feed_eof()
        writer = self._writing_link()
        if writer is not None and not writer.finished:
            writer.abort()
        self.conn.side_lost()

    def pause_writing(self) -> None:
        link = self._writing_link()
        if link is not None:
            link.set_dest_paused(True)

    def resume_writing(self) -> None:
        link = self._writing_link()
        if link is not None:
            link.set_dest_paused(False)


class Connection:
    """Client <-> proxy <-> upstream; the upstream is dialled only after the client is accepted.

    The proxy tracks a connection from the moment its client socket is accepted until both sockets are
    really closed (not merely closing with unsent data), so stopping the proxy reaches every stage of
    it: waiting for ``connection_made``, dialling the upstream, linked, or half-closed.
    """

    def __init__(self, proxy: ConnectionOwner, epoch: int = 0) -> None:
        self.proxy = proxy
        self.epoch = epoch  # the proxy's listener generation that accepted the client
        self.client = _Side(self, upstream_side=False)
        self.upstream = _Side(self, upstream_side=True)
        self.up: Link | None = None
        self.down: Link | None = None
        self.closed = False
        self._raw: socket.socket | None = None  # accepted client socket not yet owned by a transport
        self._dial: asyncio.Task[None] | None = None

    def adopt(self, sock: socket.socket, protocol_factory: Callable[[], asyncio.Protocol]) -> None:
        """Take over a freshly accepted client socket: wrap it in a transport, then dial the upstream."""
        self._raw = sock

        def factory() -> asyncio.Protocol:
            self._raw = None  # from here on asyncio's transport owns (and closes) the socket
            return protocol_factory()

        self._dial = asyncio.get_running_loop().create_task(self._set_up(sock, factory))

    def client_ready(self) -> None:
        """The client transport exists: hold its data back until the links exist."""
        assert self.client.transport is not None
        self.client.transport.pause_reading()

    async def _set_up(self, sock: socket.socket, factory: Callable[[], asyncio.Protocol]) -> None:
        loop = asyncio.get_running_loop()
        try:
            await loop.connect_accepted_socket(factory, sock)
        except (OSError, ValueError):
            self.abort()
            return
        if self.closed or not self.proxy.accepts(self.epoch):
            self.abort()
            return
        try:
            host, port = split_host_port(self.proxy.upstream)
            await loop.create_connection(lambda: self.upstream, host or "localhost", port)
        except (OSError, ValueError) as exc:
            self.proxy.log.error(
                "Unable to open connection to upstream", upstream=self.proxy.upstream, error=str(exc)
            )
            self.abort()
            return
        if self.closed or not self.proxy.accepts(self.epoch):
            self.abort()  # the proxy was stopped (or this connection dropped) while dialling
            return
        client, upstream = self.client.transport, self.upstream.transport
        assert client is not None and upstream is not None
        collection = self.proxy.toxics
        self.up = Link(self, UPSTREAM, client, upstream, collection.rng)
        self.down = Link(self, DOWNSTREAM, upstream, client, collection.rng)
        if any(w.type == "reset_peer" for w in collection.all()):
            # Go sets SO_LINGER 0 on both sockets of a link started with a reset_peer toxic, so every
            # later close of them is a TCP RST; one added to an open connection closes with a FIN.
            self.set_linger_zero()
        for link in (self.up, self.down):
            for wrapper in collection.chain(link.direction):
                link.add_toxic(wrapper)
            collection.links.add(link)
        self.client.feed_early()
        self.upstream.feed_early()
        client.resume_reading()

    # -- lifecycle ---------------------------------------------------------------------------------
    def link_finished(self, link: Link) -> None:
        self.proxy.toxics.links.discard(link)
        other = self.down if link is self.up else self.up
        if other is not None:
            # Go: reads from a socket closed locally fail at once, ending the other direction.
            other.feed_eof()
        self._maybe_forget()

    def side_lost(self) -> None:
        if self.up is None and not self.closed:
            # The client went away (or the upstream socket died) before the links existed:
            # give up the dial and close whatever is left.
            self.abort()
            return
        self._maybe_forget()

    def _maybe_forget(self) -> None:
        """Untrack the connection once nothing of it is left open (stop() must see the rest)."""
        if self._dial is not None and not self._dial.done() and not self.closed:
            return
        if any(link is not None and not link.finished for link in (self.up, self.down)):
            return
        if all(side.transport is None or side.lost for side in (self.client, self.upstream)):
            self._forget()

    def _forget(self) -> None:
        self.closed = True
        self.proxy.connections.discard(self)
        for link in (self.up, self.down):
            if link is not None:
                self.proxy.toxics.links.discard(link)

    def abort(self) -> None:
        """Close both sockets now, dropping anything buffered (proxy disabled or deleted)."""
        self.closed = True
        if self._dial is not None and not self._dial.done():
            self._dial.cancel()
        if self._raw is not None:
            self._raw.close()
            self._raw = None
        for link in (self.up, self.down):
            if link is not None:
                link.abort()
        for side in (self.client, self.upstream):
            if side.transport is not None:
                side.transport.abort()
        self._forget()

    def set_linger_zero(self) -> None:
        """SO_LINGER 0 on both sockets: closing them sends a TCP RST."""
        for side in (self.client, self.upstream):
            sock = side.transport.get_extra_info("socket") if side.transport else None
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    def log_error(self, message: str) -> None:
        self.proxy.log.error(message, proxy=self.proxy.name)


def split_host_port(address: str) -> tuple[str, int]:
    """Split ``host:port`` / ``[v6]:port`` like Go's net.SplitHostPort, with Go's port errors.

    An empty port is 0; a name is looked up as a service in Go (we know none: ``unknown port``).
    """
    host, sep, port = address.rpartition(":")
    if not sep:
        raise ValueError(f"address {address}: missing port in address")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise ValueError(f"address {address}: too many colons in address")
    if port == "":
        return host, 0
    if not port.isdigit():
        raise ValueError(f"lookup tcp/{port}: unknown port")
    if int(port) > 65535:
        raise ValueError(f"address {port}: invalid port")
    return host, int(port)
