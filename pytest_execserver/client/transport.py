"""One websocket connection: timed TCP connect (``TCP_NODELAY``), handshake, JSON frame reader."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

import websockets
from websockets.asyncio.client import ClientConnection

from pytest_execserver.checks.history import History
from pytest_execserver.client.errors import TransportError
from pytest_execserver.telemetry.phases import CURRENT, connect_phase
from pytest_execserver.telemetry.tracing import SPAN_WS_HANDSHAKE

Frame = dict[str, Any]
FrameHandler = Callable[["Transport", Frame], None]
LostHandler = Callable[["Transport", BaseException | None], None]

SPAN_DNS = "execserver.dns"
SPAN_TCP_CONNECT = "execserver.tcp_connect"
PING_INTERVAL_S = 5.0
PING_TIMEOUT_S = 10.0
WS_MAX_QUEUE = (16, 4)  # frames websockets buffers before it pauses reading the TCP socket (high, low)


class Transport:
    """A connected websocket plus its reader task; frames and loss are reported via callbacks.

    Before each frame the reader waits for ``may_read`` (the client's flow control): while it waits, websockets
    buffers at most :data:`WS_MAX_QUEUE` frames and then stops reading the socket, so TCP pushes back.
    Keepalive is ours, not websockets': a pong cannot be read while the reader is held, so a ping that went
    unanswered during such a pause is not taken for a dead peer (that would cut a healthy connection).
    """

    def __init__(
        self, ws: ClientConnection, on_frame: FrameHandler, on_lost: LostHandler, may_read: asyncio.Event | None = None
    ) -> None:
        self.ws = ws
        self._on_frame = on_frame
        self._on_lost = on_lost
        self._may_read = may_read
        self._held = False  # the reader is waiting in the gate
        self._holds = 0  # how often it waited there
        self._frames = 0  # frames read so far: any of them proves the peer alive
        self.closed_by_us = False
        self.lost = False
        self.frame_received_ns = 0  # time.time_ns() when the frame being handled came off the socket
        self._reader = asyncio.create_task(self._read_loop(), name="execserver-reader")
        self._keepalive = asyncio.create_task(self._keepalive_loop(), name="execserver-keepalive")

    async def _read_loop(self) -> None:
        error: BaseException | None = None
        try:
            while True:
                if self._may_read is not None and not self._may_read.is_set():
                    self._held = True
                    self._holds += 1
                    try:
                        await self._may_read.wait()
                    finally:
                        self._held = False
                message = await self.ws.recv()
                self.frame_received_ns = time.time_ns()
                self._frames += 1
                try:
                    frame = json.loads(message)
                except ValueError:
                    continue
                if isinstance(frame, dict):
                    self._on_frame(self, frame)
        except websockets.ConnectionClosedOK:
            pass  # a clean close, as ``async for`` over the connection ends
        except websockets.ConnectionClosed as exc:
            error = exc
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            error = exc
        self.mark_lost(error)

    async def _keepalive_loop(self) -> None:
        while not self.lost:
            await asyncio.sleep(PING_INTERVAL_S)
            try:
                pong = await self.ws.ping()
            except (websockets.ConnectionClosed, OSError):
                return  # the reader reports the loss
            if not await self._alive(asyncio.ensure_future(pong)):
                self.abort()
                self.mark_lost(TransportError(f"keepalive ping timeout (no pong or frame in 2 x {PING_TIMEOUT_S} s)"))
                return

    async def _alive(self, pong: asyncio.Future[float]) -> bool:
        """Whether the peer showed a sign of life within the ping timeout: its pong, or any frame we read.

        Time we spent not reading proves nothing (the pong may be waiting in the socket), nor does one
        silent window: on a loaded machine the event loop may not have run, leaving the pong unparsed
        behind a burst of output. Only two windows in a row with no sign of life make a dead peer."""
        try:
            for _ in range(2):
                holds, frames = self._holds, self._frames
                done, _ = await asyncio.wait({pong}, timeout=PING_TIMEOUT_S)
                if done or self._held or self._holds != holds or self._frames != frames:
                    return True
            return False
        finally:
            if pong.done():
                if not pong.cancelled():
                    pong.exception()  # retrieved: a ping lost with the connection is the reader's to report
            else:
                pong.cancel()

    def mark_lost(self, error: BaseException | None) -> None:
        """Report the loss once (unless we closed it ourselves)."""
        if self.lost:
            return
        self.lost = True
        if not self.closed_by_us:
            self._on_lost(self, error)

    async def send(self, frame: Frame) -> None:
        """Send one JSON frame; on failure the transport is marked lost (callers await their futures)."""
        phases = CURRENT.get()  # the RPC being sent, if any: time its json encoding and sending
        try:
            start = time.time_ns()
            text = json.dumps(frame, separators=(",", ":"))
            encoded = time.time_ns()
            try:
                await self.ws.send(text)
            finally:
                if phases is not None:
                    phases.add("serialize", start, encoded)
                    phases.add("send", encoded, time.time_ns())
        except (websockets.ConnectionClosed, OSError) as exc:
            self.mark_lost(exc)

    def abort(self) -> None:
        """Drop the TCP connection without a closing handshake (used by fault injection and tests)."""
        transport = self.ws.transport
        if transport is not None:
            transport.abort()

    async def close(self) -> None:
        self.closed_by_us = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.ws.close(), 1.0)
        for task in (self._reader, self._keepalive):
            task.cancel()
            with contextlib.suppress(BaseException):
                await task


async def _resolve(host: str, port: int) -> list[Any]:
    return await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)


async def _tcp_connect(infos: list[Any], host: str, port: int) -> socket.socket:
    loop = asyncio.get_running_loop()
    last: OSError | None = None
    for family, kind, proto, _name, address in infos:
        sock = socket.socket(family, kind, proto)
        sock.setblocking(False)
        try:
            await loop.sock_connect(sock, address)
        except OSError as exc:
            sock.close()
            last = exc
            continue
        except BaseException:
            sock.close()
            raise
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock
    raise last or OSError(f"cannot resolve {host}:{port}")


async def open_transport(
    url: str,
    *,
    history: History,
    client_id: str,
    on_frame: FrameHandler,
    on_lost: LostHandler,
    headers: Mapping[str, str] | None = None,
    timeout_s: float = 10.0,
    may_read: asyncio.Event | None = None,
) -> Transport:
    """TCP connect then websocket handshake, each timed as a span and a history operation."""
    parts = urlsplit(url)
    if parts.scheme != "ws" or parts.hostname is None:
        raise ValueError(f"unsupported exec-server URL {url!r} (expected ws://host:port)")
    port = parts.port or 80
    now = time.time_ns
    start = now()
    history.record("invoke", "connect", client_id, url=url)
    try:
        infos = await asyncio.wait_for(_resolve(parts.hostname, port), timeout_s)
        resolved = now()
        connect_phase("dns", SPAN_DNS, start, resolved)
        try:
            sock = await asyncio.wait_for(_tcp_connect(infos, parts.hostname, port), timeout_s)
        finally:
            connect_phase("tcp_connect", SPAN_TCP_CONNECT, resolved, now(), **{"server.address": parts.hostname})
    except (OSError, TimeoutError) as exc:
        history.record("fail", "connect", client_id, message=str(exc))
        raise TransportError(f"TCP connect to {url} failed: {exc!r}") from exc
    history.record("ok", "connect", client_id)
    history.record("invoke", "ws_handshake", client_id)
    start = now()
    try:
        ws = await websockets.connect(
            url,
            sock=sock,
            additional_headers=dict(headers) if headers else None,
            open_timeout=timeout_s,
            max_size=None,
            max_queue=WS_MAX_QUEUE,
            compression=None,
            ping_interval=None,  # see Transport._keepalive_loop
            ping_timeout=None,
            close_timeout=1.0,
        )
    except (OSError, TimeoutError, websockets.InvalidHandshake, websockets.ConnectionClosed) as exc:
        sock.close()
        connect_phase("ws_handshake", SPAN_WS_HANDSHAKE, start, now(), error=str(exc))
        history.record("fail", "ws_handshake", client_id, message=str(exc))
        raise TransportError(f"websocket handshake with {url} failed: {exc!r}") from exc
    except BaseException:
        sock.close()
        raise
    history.record("ok", "ws_handshake", client_id)
    transport = Transport(ws, on_frame, on_lost, may_read)
    connect_phase("ws_handshake", SPAN_WS_HANDSHAKE, start, now())
    return transport
