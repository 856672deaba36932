"""A proxied TCP connection: the client socket, the upstream socket and the two links between them."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from typing import TYPE_CHECKING

from pytoxiproxy.link import Link
from pytoxiproxy.toxics.base import DOWNSTREAM, UPSTREAM

if TYPE_CHECKING:
    from pytoxiproxy.proxy import Proxy


class _Side(asyncio.Protocol):
    """Socket callbacks for one side; data is fed to the link it is the source of."""

    def __init__(self, conn: Connection, upstream_side: bool) -> None:
        self.conn = conn
        self.upstream_side = upstream_side
        self.transport: asyncio.Transport | None = None

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

    def eof_received(self) -> bool:
        link = self._reading_link()
        if link is not None:
            link.feed_eof()
        return True  # keep the socket open for writing until the other direction finishes

    def connection_lost(self, exc: Exception | None) -> None:
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
    """Client <-> proxy <-> upstream; the upstream is dialled only after the client is accepted."""

    def __init__(self, proxy: Proxy) -> None:
        self.proxy = proxy
        self.client = _Side(self, upstream_side=False)
        self.upstream = _Side(self, upstream_side=True)
        self.up: Link | None = None
        self.down: Link | None = None
        self.closed = False
        self._dial: asyncio.Task[None] | None = None

    def accepted(self) -> None:
        """Called once the client socket is set up: pause it and dial the upstream."""
        assert self.client.transport is not None
        self.client.transport.pause_reading()
        self._dial = asyncio.get_running_loop().create_task(self._connect_upstream())

    async def _connect_upstream(self) -> None:
        host, port = split_host_port(self.proxy.upstream)
        loop = asyncio.get_running_loop()
        try:
            await loop.create_connection(lambda: self.upstream, host or "localhost", port)
        except (OSError, ValueError) as exc:
            self.proxy.log.error(
                "Unable to open connection to upstream", upstream=self.proxy.upstream, error=str(exc)
            )
            self.abort()
            return
        if self.closed:
            self.abort()
            return
        client, upstream = self.client.transport, self.upstream.transport
        assert client is not None and upstream is not None
        collection = self.proxy.toxics
        self.up = Link(self, UPSTREAM, client, upstream, collection.rng)
        self.down = Link(self, DOWNSTREAM, upstream, client, collection.rng)
        for link in (self.up, self.down):
            for wrapper in collection.chain(link.direction):
                link.add_toxic(wrapper)
            collection.links.add(link)
        client.resume_reading()

    # -- lifecycle ---------------------------------------------------------------------------------
    def link_finished(self, link: Link) -> None:
        self.proxy.toxics.links.discard(link)
        other = self.down if link is self.up else self.up
        if other is not None:
            # Go: reads from a socket closed locally fail at once, ending the other direction.
            other.feed_eof()
        if all(lk is None or lk.finished for lk in (self.up, self.down)):
            self._forget()

    def side_lost(self) -> None:
        transports = (self.client.transport, self.upstream.transport)
        if all(t is None or t.is_closing() for t in transports) and (
            self.up is None or (self.up.finished and self.down is not None and self.down.finished)
        ):
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
        for link in (self.up, self.down):
            if link is not None:
                link.abort()
        for side in (self.client, self.upstream):
            if side.transport is not None:
                side.transport.abort()
        self._forget()

    def reset(self) -> None:
        """Abort both sockets with SO_LINGER 0 so the peers see a TCP RST."""
        for side in (self.client, self.upstream):
            sock = side.transport.get_extra_info("socket") if side.transport else None
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.abort()

    def log_error(self, message: str) -> None:
        self.proxy.log.error(message, proxy=self.proxy.name)


def split_host_port(address: str) -> tuple[str, int]:
    """Split ``host:port`` / ``[v6]:port`` like Go's net.SplitHostPort; the port must be numeric."""
    host, sep, port = address.rpartition(":")
    if not sep:
        raise ValueError(f"address {address}: missing port in address")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise ValueError(f"address {address}: too many colons in address")
    if not port.isdigit() or int(port) > 65535:
        raise ValueError(f"address {address}: invalid port")
    return host, int(port)
