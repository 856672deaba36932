"""The asyncio side of the protocol fault proxy: a loopback TCP listener, one upstream socket per client
connection, and protocol callbacks that feed bytes to a :class:`~.core.ConnectionCore` and perform its actions.

``async with ProtocolProxy("ws://127.0.0.1:PORT", [make_fault("drop", on="process/start:response")]) as p:``
then point the client at ``p.url``; ``p.events`` lists what fired. :class:`ProxyThread` runs one on its own
thread for synchronous callers.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import socket
import struct
import threading
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

from pytest_execserver.faults.protocol.core import (
    Action,
    ConnectionCore,
    FaultSet,
    Fire,
    Freeze,
    HangUp,
    Reset,
    Sleep,
    Write,
)
from pytest_execserver.faults.protocol.events import FaultEvent
from pytest_execserver.faults.protocol.kinds import Fault
from pytest_execserver.faults.protocol.triggers import Direction

OnFire = Callable[[FaultEvent], Awaitable[None]]
LOOPBACK = ("127.0.0.1", "localhost", "::1")
TO_SERVER, TO_CLIENT = Direction.TO_SERVER, Direction.TO_CLIENT


def parse_upstream(upstream: str) -> tuple[str, int]:
    """``ws://127.0.0.1:PORT``, ``http://...`` or ``127.0.0.1:PORT``; only loopback addresses are accepted."""
    parts = urlsplit(upstream if "://" in upstream else f"tcp://{upstream}")
    if parts.hostname is None or parts.port is None:
        raise ValueError(f"upstream must be host:port or ws://host:port, not {upstream!r}")
    if parts.hostname not in LOOPBACK:
        raise ValueError(f"upstream {upstream!r} is not a loopback address; the proxy only relays 127.0.0.1")
    return parts.hostname, parts.port


class ProtocolProxy:
    """A transparent websocket proxy on 127.0.0.1 that applies protocol faults (see ``docs/protocol-faults.md``).

    ``on_fire`` is awaited for every fired fault (``FaultEvent``) in the order of the stream where its
    message passed (that direction waits for it), after the fault's own action; for the process kinds
    (``server_restart``, ``server_pause``, ``client_pause``) it is the action. Errors it raises go to
    :attr:`hook_errors`.
    """

    def __init__(
        self, upstream: str, faults: Iterable[Fault] = (), *, on_fire: OnFire | None = None, port: int = 0
    ) -> None:
        self.upstream = parse_upstream(upstream)
        self.events: list[FaultEvent] = []
        self.hook_errors: list[BaseException] = []
        self.on_fire = on_fire
        self._faults = FaultSet(faults)
        self._port = port
        self._server: asyncio.Server | None = None
        self._connections: set[_Connection] = set()
        self._numbers = itertools.count(1)
        self.connections_opened = 0

    def arm(self, fault: Fault) -> None:
        """Add a fault; its ``nth`` counts messages from now on."""
        self._faults.add(fault)

    @property
    def address(self) -> tuple[str, int]:
        if self._server is None:
            raise RuntimeError("the proxy is not started")
        host, port = self._server.sockets[0].getsockname()[:2]
        return host, port

    @property
    def url(self) -> str:
        host, port = self.address
        return f"ws://{host}:{port}"

    async def start(self) -> ProtocolProxy:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._accept, "127.0.0.1", self._port)
        return self

    async def stop(self) -> None:
        """Stop listening and close every connection (blackholed ones included)."""
        if self._server is not None:
            self._server.close()
        for connection in list(self._connections):
            connection.close()
        for _ in range(3):
            await asyncio.sleep(0)  # let the transports' close callbacks run
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2.0)

    async def __aenter__(self) -> ProtocolProxy:
        return await self.start()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    def _accept(self) -> _Socket:
        self.connections_opened += 1
        connection = _Connection(self, next(self._numbers))
        self._connections.add(connection)
        return connection.client

    def _ended(self, connection: _Connection) -> None:
        self._connections.discard(connection)

    async def fired(self, event: FaultEvent) -> None:
        self.events.append(event)
        if self.on_fire is not None:
            try:
                await self.on_fire(event)
            except Exception as exc:
                self.hook_errors.append(exc)


_EOF = b""  # what ``received`` gets when a side half-closed


class _Socket(asyncio.Protocol):
    """One of the two sockets of a proxied connection; it reads the bytes travelling towards ``reads``."""

    def __init__(self, connection: _Connection, reads: Direction) -> None:
        self.connection = connection
        self.reads = reads
        self.transport: asyncio.Transport | None = None
        self._pauses: set[str] = set()  # why reading is paused: "busy", "frozen", "full", "connecting"

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self._pauses:
            transport.pause_reading()
        self.connection.made(self)

    def data_received(self, data: bytes) -> None:
        self.connection.received(self.reads, data)

    def eof_received(self) -> bool:
        self.connection.received(self.reads, _EOF)
        return True  # keep our sending half open (a half-close passes as a half-close)

    def connection_lost(self, exc: Exception | None) -> None:
        self.connection.lost(self, exc)

    def pause_writing(self) -> None:
        self.connection.peer_of(self).pause("full")

    def resume_writing(self) -> None:
        self.connection.peer_of(self).resume("full")

    def pause(self, reason: str) -> None:
        if not self._pauses and self.transport is not None and not self.transport.is_closing():
            self.transport.pause_reading()
        self._pauses.add(reason)

    def resume(self, reason: str) -> None:
        if reason not in self._pauses:
            return
        self._pauses.discard(reason)
        if not self._pauses and self.transport is not None and not self.transport.is_closing():
            self.transport.resume_reading()

    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def reset(self) -> None:
        """Close with SO_LINGER 0: the peer gets a TCP RST."""
        if self.transport is None:
            return
        sock = self.transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.transport.abort()


class _Connection:
    """A client connection and its upstream connection around one :class:`ConnectionCore`.

    The hot path is synchronous: bytes in, the core's writes out, in the same callback. An action that
    must wait (a delay, the ``on_fire`` hook, a blackhole) hands that direction to a task: reading that
    socket pauses and whatever still arrives queues behind (``_backlog``), so the order is kept.
    """

    def __init__(self, proxy: ProtocolProxy, number: int) -> None:
        self.proxy = proxy
        self.core = ConnectionCore(number, proxy._faults)
        self.client = _Socket(self, TO_SERVER)  # the client's socket carries bytes towards the server
        self.server = _Socket(self, TO_CLIENT)
        self._backlog: dict[Direction, deque[bytes] | None] = {TO_SERVER: deque(), TO_CLIENT: None}
        self._eof: set[Direction] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._frozen = False
        self._thaw = asyncio.Event()
        self._closed = False

    # ------------------------------------------------------------------ sockets

    def made(self, sock: _Socket) -> None:
        if sock is self.client:
            self._spawn(self._connect_upstream())

    async def _connect_upstream(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            await loop.create_connection(lambda: self.server, *self.proxy.upstream)
        except OSError:
            self.client.reset()  # the upstream refused: so does the proxy
            self.close()
            return
        await self._drain_backlog(TO_SERVER)

    def writer(self, towards: Direction) -> _Socket:
        return self.server if towards is TO_SERVER else self.client

    def reader(self, direction: Direction) -> _Socket:
        return self.client if direction is TO_SERVER else self.server

    def peer_of(self, sock: _Socket) -> _Socket:
        return self.server if sock is self.client else self.client

    def received(self, direction: Direction, data: bytes) -> None:
        backlog = self._backlog[direction]
        if backlog is not None:  # a task owns this direction: queue behind it
            backlog.append(data)
            return
        if data is _EOF:
            self._end_of_stream(direction)
            return
        complete = self.core.forward(direction, data)
        if complete is not None:  # the hot path: nothing armed, nothing held
            if complete:
                (self.server if direction is TO_SERVER else self.client).write(complete)
            return
        actions = self.core.receive(direction, data)
        for i, action in enumerate(actions):
            if type(action) is Write:
                self.writer(action.to).write(action.data)
            else:  # must wait: the rest of this direction runs in a task
                self._own(direction)
                self._spawn(self._slow(direction, actions[i:]))
                return

    def _own(self, direction: Direction) -> None:
        self._backlog[direction] = deque()
        self.reader(direction).pause("busy")

    async def _slow(self, direction: Direction, actions: list[Action]) -> None:
        await self._perform(actions)
        await self._drain_backlog(direction)

    async def _drain_backlog(self, direction: Direction) -> None:
        """Work through what queued for ``direction`` while it waited, then give it back to the fast path."""
        backlog = self._backlog[direction]
        while not self._closed:
            if self._frozen:
                await self._thaw.wait()
                continue
            if not backlog:
                break
            data = backlog.popleft()
            if data is _EOF:
                self._end_of_stream(direction)
            else:
                await self._perform(self.core.receive(direction, data))
        self._backlog[direction] = None
        self.reader(direction).resume("busy")

    async def _perform(self, actions: list[Action]) -> None:
        for action in actions:
            if self._closed:
                return
            if type(action) is Write:
                self.writer(action.to).write(action.data)
            elif isinstance(action, Fire):
                await self.proxy.fired(action.event)
            elif isinstance(action, Sleep):
                await asyncio.sleep(action.seconds)
            elif isinstance(action, Reset):
                self.client.reset()
                self.server.reset()
                self.close()
            elif isinstance(action, HangUp):
                transport = self.writer(action.to).transport
                if transport is not None:
                    transport.close()  # flushes what was written, then FIN
            elif isinstance(action, Freeze):
                self._freeze(action.seconds)

    # ------------------------------------------------------------------ blackhole

    def _freeze(self, seconds: float | None) -> None:
        self._frozen = True
        self._thaw.clear()
        for direction in (TO_SERVER, TO_CLIENT):
            self.reader(direction).pause("frozen")
            if self._backlog[direction] is None:
                self._own(direction)
                self._spawn(self._drain_backlog(direction))
        if seconds is not None:
            self._spawn(self._thaw_after(seconds))

    async def _thaw_after(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
        actions = self.core.thaw()
        await self._perform(actions)
        self._frozen = False
        self._thaw.set()
        for direction in (TO_SERVER, TO_CLIENT):
            self.reader(direction).resume("frozen")
        if self._lost_while_frozen is not None:
            sock, exc = self._lost_while_frozen
            self.lost(sock, exc)

    _lost_while_frozen: tuple[_Socket, Exception | None] | None = None

    # ------------------------------------------------------------------ ends

    def _spared(self, sock: _Socket) -> bool:
        """After a ``close`` fault the other side was hung up on purpose; its end must not end the target's."""
        towards = self.core.closing_towards
        return towards is not None and sock is not self.writer(towards)

    def _end_of_stream(self, direction: Direction) -> None:
        """A side sent FIN: pass it on as a half-close, or end the connection once both have."""
        self._eof.add(direction)
        if self._spared(self.reader(direction)):
            return
        if self.core.state in ("closing", "dead") or len(self._eof) == 2:
            self.close()
            return
        transport = self.writer(direction).transport
        if transport is not None and not transport.is_closing() and transport.can_write_eof():
            transport.write_eof()

    def lost(self, sock: _Socket, exc: Exception | None) -> None:
        if self._closed:
            return
        if self._frozen:
            self._lost_while_frozen = (sock, exc)  # a blackhole stays silent even when a peer gives up
            return
        if self._spared(sock):
            return
        if exc is not None:  # reset by the peer: reset the other side too
            self.peer_of(sock).reset()
        self.close()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._thaw.set()
        for sock in (self.client, self.server):
            if sock.transport is not None and not sock.transport.is_closing():
                sock.transport.close()
        current = asyncio.current_task()
        for task in self._tasks:
            if task is not current:
                task.cancel()
        self.proxy._ended(self)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


class ProxyThread:
    """A :class:`ProtocolProxy` on its own event loop thread, for synchronous callers (fixtures, benchmarks).

    ``on_fire`` (async) runs on the proxy's loop. :attr:`events` is a snapshot copy.
    """

    def __init__(self, upstream: str, faults: Iterable[Fault] = (), *, on_fire: OnFire | None = None) -> None:
        self._loop = asyncio.new_event_loop()
        self.proxy = ProtocolProxy(upstream, faults, on_fire=on_fire)
        self._thread = threading.Thread(target=self._loop.run_forever, name="protocol-fault-proxy", daemon=True)

    def start(self) -> ProxyThread:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.proxy.start(), self._loop).result(10)
        return self

    @property
    def url(self) -> str:
        return self.proxy.url

    @property
    def events(self) -> list[FaultEvent]:
        return asyncio.run_coroutine_threadsafe(_copy(self.proxy.events), self._loop).result(10)

    def arm(self, fault: Fault) -> None:
        self._loop.call_soon_threadsafe(self.proxy.arm, fault)

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(self.proxy.stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def __enter__(self) -> ProxyThread:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


async def _copy(events: list[FaultEvent]) -> list[FaultEvent]:
    return list(events)
