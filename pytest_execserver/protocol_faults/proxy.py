"""The asyncio side of the protocol fault proxy: a loopback TCP listener, one upstream socket per client
connection, two pump tasks that feed bytes to a :class:`~.core.ConnectionCore` and perform its actions.

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
from collections.abc import Awaitable, Callable, Iterable
from types import TracebackType
from urllib.parse import urlsplit

from pytest_execserver.protocol_faults.core import (
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
from pytest_execserver.protocol_faults.events import FaultEvent
from pytest_execserver.protocol_faults.kinds import Fault
from pytest_execserver.protocol_faults.triggers import Direction

OnFire = Callable[[FaultEvent], Awaitable[None]]
READ_SIZE = 256 * 1024
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

    ``on_fire`` is awaited for every fired fault (``FaultEvent``) in the loop of the direction where its
    message passed, after the fault's own action; for the process kinds (``server_restart``,
    ``server_pause``, ``client_pause``) it is the action. Errors it raises go to :attr:`hook_errors`.
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
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self._port, limit=READ_SIZE)
        return self

    async def stop(self) -> None:
        """Stop listening and close every connection (blackholed ones included)."""
        if self._server is not None:
            self._server.close()
        for connection in list(self._connections):
            connection.close()
        for connection in list(self._connections):
            await connection.finished.wait()
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2.0)

    async def __aenter__(self) -> ProtocolProxy:
        return await self.start()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections_opened += 1
        connection = _Connection(self, next(self._numbers), reader, writer)
        self._connections.add(connection)
        try:
            await connection.run()
        finally:
            self._connections.discard(connection)
            connection.finished.set()

    async def fired(self, event: FaultEvent) -> None:
        self.events.append(event)
        if self.on_fire is not None:
            try:
                await self.on_fire(event)
            except Exception as exc:
                self.hook_errors.append(exc)


class _Connection:
    """One client connection and its upstream: two pumps around a :class:`ConnectionCore`."""

    def __init__(
        self, proxy: ProtocolProxy, number: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.proxy = proxy
        self.core = ConnectionCore(number, proxy._faults)
        self.readers: dict[Direction, asyncio.StreamReader] = {TO_SERVER: reader}
        self.writers: dict[Direction, asyncio.StreamWriter] = {TO_CLIENT: writer}
        self.flowing = asyncio.Event()
        self.flowing.set()
        self.finished = asyncio.Event()
        self._eof: set[Direction] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self._closed = False

    async def run(self) -> None:
        _nodelay(self.writers[TO_CLIENT])
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.proxy.upstream, limit=READ_SIZE)
        except OSError:
            _reset(self.writers[TO_CLIENT])
            return
        _nodelay(up_writer)
        self.readers[TO_CLIENT], self.writers[TO_SERVER] = up_reader, up_writer
        self._tasks = [
            asyncio.create_task(self._pump(TO_SERVER), name=f"protofault-{self.core.conn}-up"),
            asyncio.create_task(self._pump(TO_CLIENT), name=f"protofault-{self.core.conn}-down"),
        ]
        try:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        finally:
            self.close()

    async def _pump(self, direction: Direction) -> None:
        """Read what the side sending towards ``direction`` sent; hand it to the core; do what it says."""
        reader = self.readers[direction]
        while not self._closed:
            await self.flowing.wait()
            try:
                data = await reader.read(READ_SIZE)
            except OSError:
                await self.flowing.wait()  # a blackholed connection stays silent even when a peer gives up
                self._reset_all()
                return
            await self.flowing.wait()
            if not data:
                self._end_of_stream(direction)
                return
            await self._perform(self.core.receive(direction, data))

    def _end_of_stream(self, direction: Direction) -> None:
        """A side sent FIN: pass it on (half-close), or end the connection once both have."""
        self._eof.add(direction)
        writer = self.writers[direction]
        if self.core.state in ("closing", "dead") or len(self._eof) == 2:
            self.close()
            return
        if not writer.is_closing() and writer.can_write_eof():
            with contextlib.suppress(OSError):
                writer.write_eof()

    async def _perform(self, actions: list[Action]) -> None:
        for action in actions:
            if isinstance(action, Write):
                writer = self.writers[action.to]
                if writer.is_closing():
                    continue
                writer.write(action.data)
                try:
                    await writer.drain()
                except OSError:
                    self._reset_all()
                    return
            elif isinstance(action, Fire):
                await self.proxy.fired(action.event)
            elif isinstance(action, Sleep):
                await asyncio.sleep(action.seconds)
            elif isinstance(action, Reset):
                self._reset_all()
                return
            elif isinstance(action, HangUp):
                writer = self.writers[action.to]
                if not writer.is_closing():
                    writer.close()
            elif isinstance(action, Freeze):
                self.flowing.clear()
                if action.seconds is not None:
                    self._tasks.append(asyncio.create_task(self._thaw_after(action.seconds)))

    async def _thaw_after(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
        await self._perform(self.core.thaw())
        self.flowing.set()

    def _reset_all(self) -> None:
        for writer in self.writers.values():
            _reset(writer)
        self.close()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.flowing.set()  # let pumps waiting on a blackhole see the end
        for writer in self.writers.values():
            writer.transport.abort()  # a plain close(2): FIN, unless _reset set SO_LINGER 0 first
        current = asyncio.current_task()
        for task in self._tasks:
            if task is not current:
                task.cancel()


def _nodelay(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with SO_LINGER 0, so the peer gets a TCP RST."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


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
