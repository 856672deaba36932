"""One websocket connection: frame loop, init rules, request ordering/concurrency, session attachment."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from execserver_ref.connection_rules import ConnectionRules, Verdict
from execserver_ref.envelope import INTERNAL_ERROR, METHOD_NOT_FOUND, Request, RpcError, encode_error, encode_result
from execserver_ref.environment import environment_info
from execserver_ref.journal import Journal
from execserver_ref.outbound import DEFAULT_CAPACITY, Outbound
from execserver_ref.params import Field, Opt, Str, Struct
from execserver_ref.routing import Route
from execserver_ref.session import ServerConfig, Session, SessionRegistry
from execserver_ref.tracing import Tracing

log = logging.getLogger("execserver_ref.connection")
T = TypeVar("T")

INITIALIZE = Struct(
    "InitializeParams",
    [Field("clientName", Str()), Field("resumeSessionId", Opt(Str()), required=False, seq_default=True)],
)


class Disconnected(Exception):
    """The transport closed while a request was being handled; no response is sent."""


class ServerContext:
    def __init__(
        self, config: ServerConfig, routes: dict[str, Route], tracing: Tracing, journal: Journal | None = None
    ) -> None:
        self.config = config
        self.routes = routes
        self.tracing = tracing
        self.journal = journal
        self.registry = SessionRegistry(config)
        self.connections: set[Connection] = set()
        self.environment_info = environment_info(config.codex)  # computed once: it never changes


class Connection:
    def __init__(self, ws: ServerConnection, ctx: ServerContext) -> None:
        self.ws = ws
        self.ctx = ctx
        self.config = ctx.config
        self.routes = ctx.routes
        # unbounded-outbound (a weak server): a client that never reads makes the queue grow without end
        self.outbound = Outbound(sys.maxsize if ctx.config.bugs.unbounded_outbound else DEFAULT_CAPACITY)
        if ctx.config.bugs.leak_fds:
            os.open(os.devnull, os.O_RDONLY)  # a weak server: never closed
        self.session: Session | None = None
        self._after: list[Callable[[], None]] = []
        self._closed_task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        address = ws.remote_address
        peer = f"{address[0]}:{address[1]}" if address else "unknown"
        self.label = f"exec-server websocket {peer}"
        self.rules = ConnectionRules(self.label)
        self.journal = ctx.journal
        self.conn_id = 0
        if self.journal is not None:
            self.conn_id = self.journal.next_conn()
            self.journal.record("conn_open", conn=self.conn_id, peer=peer)

    @property
    def session_id(self) -> str | None:
        return self.session.session_id if self.session is not None else None

    # ------------------------------------------------------------------ main loop

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        writer = loop.create_task(self._writer())
        self._closed_task = loop.create_task(self.ws.wait_closed())
        limit = max(1, self.config.concurrent_requests)
        slots = asyncio.Semaphore(limit)
        try:
            async for data in self.ws:
                inbound = self.rules.receive(data)
                message = inbound.message
                if self.journal is not None:
                    self.journal.frame_in(self.conn_id, self.session_id, message)
                if inbound.verdict is Verdict.REPLY:
                    assert inbound.reply is not None
                    self.outbound.put_nowait(inbound.reply)
                elif inbound.verdict is Verdict.DROP:
                    log.warning("closing connection: %s", inbound.reason)
                    self._drop()
                    break
                elif inbound.verdict is Verdict.DISPATCH:
                    assert isinstance(message, Request)
                    if limit == 1:
                        await self.handle_request(message)
                    else:
                        await slots.acquire()
                        task = loop.create_task(self._handle_concurrent(message, slots))
                        self._tasks.add(task)
                        task.add_done_callback(self._tasks.discard)
        except ConnectionClosed:
            pass
        finally:
            for task in list(self._tasks):
                task.cancel()
            if self.session is not None:
                self.ctx.registry.detach(self.session, self.outbound)
            self.outbound.close()
            writer.cancel()
            self._closed_task.cancel()
            with contextlib.suppress(BaseException):
                await writer
            if self.journal is not None:
                self.journal.record("conn_close", conn=self.conn_id, code=self.ws.close_code)

    def _drop(self) -> None:
        """Drop the TCP connection without a close frame (codex aborts the transport)."""
        transport = self.ws.transport
        if transport is not None:
            transport.abort()

    async def _writer(self) -> None:
        try:
            while True:
                frames = await self.outbound.get_batch()
                if not frames:
                    return
                journal = self.journal
                for frame in frames:
                    if journal is not None:
                        journal.frame_out(self.conn_id, self.session_id, frame)
                    await self.ws.send(frame)
        except ConnectionClosed:
            self.outbound.close()
        except Exception:  # never leave the connection open with nothing sending on it
            log.exception("writer failed; closing the connection")
            self.outbound.close()
            self._drop()

    async def _handle_concurrent(self, request: Request, slots: asyncio.Semaphore) -> None:
        try:
            await self.handle_request(request)
        finally:
            slots.release()

    # ------------------------------------------------------------------ requests

    async def handle_request(self, request: Request) -> None:
        method = request.method
        try:
            if method == "initialize":
                params = INITIALIZE.decode(request.params)
                with self.ctx.tracing.span(method, request.trace):
                    result: Any = self._initialize(params)
            else:
                route = self.routes.get(method)
                if route is None:
                    raise RpcError(METHOD_NOT_FOUND, f"exec-server stub does not implement `{method}` yet")
                params = route.schema.decode(request.params)
                if route.family is not None:
                    session = self.session
                    self.rules.check_ready(
                        route.family, session is not None, session is not None and session.sink is self.outbound
                    )
                with self.ctx.tracing.span(method, request.trace):
                    result = await route.handler(self, params)
            frame = encode_result(request.id, result)
        except RpcError as exc:
            frame = encode_error(request.id, exc.code, exc.message, exc.data)
        except Disconnected:
            self._after.clear()
            return
        except Exception as exc:
            log.exception("internal error handling %s", method)
            frame = encode_error(request.id, INTERNAL_ERROR, f"internal error: {exc}")
        self.outbound.put_nowait(frame)
        if self._after:
            after, self._after = self._after, []
            for callback in after:
                callback()

    def after_response(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` right after this request's response was queued (start output pumps)."""
        self._after.append(callback)

    async def race_disconnect(self, awaitable: Awaitable[T]) -> T:
        task = asyncio.ensure_future(awaitable)
        closed = self._closed_task
        if closed is None:
            return await task
        done, _ = await asyncio.wait({task, closed}, return_when=asyncio.FIRST_COMPLETED)
        if task in done:
            return task.result()
        task.cancel()
        raise Disconnected

    def _initialize(self, params: dict[str, Any]) -> dict[str, Any]:
        self.rules.begin_initialize()
        try:
            session = self.ctx.registry.attach(params["resumeSessionId"], self.outbound)
        except RpcError:
            self.rules.initialize_failed()
            raise
        self.session = session
        if self.journal is not None:
            self.journal.record(
                "session", conn=self.conn_id, session=session.session_id, resumed=params["resumeSessionId"] is not None
            )
        return {"sessionId": session.session_id, "environmentInfo": self.environment_info}

    @property
    def environment_info(self) -> dict[str, Any]:
        return self.ctx.environment_info

    def require_session(self) -> Session:
        assert self.session is not None
        return self.session
