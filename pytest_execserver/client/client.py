"""The asyncio exec-server client: :class:`ExecClient` and :func:`connect`."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
import uuid
from collections.abc import Coroutine, Generator, Mapping, Sequence
from pathlib import Path, PurePosixPath
from types import TracebackType
from typing import Any
from urllib.parse import unquote, urlsplit

from opentelemetry import trace
from opentelemetry.trace import Status, StatusCode

from pytest_execserver.checks.history import History
from pytest_execserver.client.errors import (
    ExecServerError,
    RequestTimeout,
    StartOutcomeUnknown,
    TransportError,
)
from pytest_execserver.client.flow import FlowControl
from pytest_execserver.client.modes import MODES, run_consumer
from pytest_execserver.client.process import ProcessHandle, ProcessResult
from pytest_execserver.client.recovery import reconnect
from pytest_execserver.client.session import Pushed, Refusal, Reply, SessionCore
from pytest_execserver.client.transport import Frame, Transport, open_transport
from pytest_execserver.telemetry import phases as tel
from pytest_execserver.telemetry.tracing import SPAN_CONNECT, SPAN_INITIALIZE, SPAN_RPC_PREFIX, trace_field, tracer

DEFAULT_QUEUE_LIMIT = 0  # no lossy limit: flow control (see client/flow.py)
DEFAULT_REQUEST_TIMEOUT_S = 30.0
DEFAULT_LEGACY_WAIT_MS = 250
_client_numbers = itertools.count(1)


class ExecClient:
    """A JSON-RPC-over-websocket client for one exec-server session (see :func:`connect`)."""

    def __init__(
        self,
        url: str,
        *,
        mode: str = "event-stream",
        history: History | None = None,
        client_id: str | None = None,
        recovery_deadline_s: float = 10.0,
        queue_limit: int = DEFAULT_QUEUE_LIMIT,
        request_timeout_s: float = DEFAULT_REQUEST_TIMEOUT_S,
        headers: Mapping[str, str] | None = None,
        consumer_delay_s: float = 0.0,
        legacy_wait_ms: int = DEFAULT_LEGACY_WAIT_MS,
        client_name: str = "pytest-execserver",
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
        self.url = url
        self.mode = mode
        self.history = history if history is not None else History()
        self.client_id = client_id or f"client-{next(_client_numbers)}"
        self.recovery_deadline_s = recovery_deadline_s
        self._queue_limit = max(0, int(queue_limit))
        self.request_timeout_s = request_timeout_s
        self.headers = dict(headers or {})
        self.consumer_delay_s = consumer_delay_s
        self.legacy_wait_ms = legacy_wait_ms
        self.client_name = client_name
        self.session_id: str | None = None
        self.initialize_result: dict[str, Any] = {}
        self.transport: Transport | None = None
        self.processes: dict[str, ProcessHandle] = {}
        self.core = SessionCore()  # pending calls and replay policy (sans-I/O)
        self._futures: dict[int, asyncio.Future[Any]] = {}
        self.failure: TransportError | None = None
        self.reconnects = 0
        self._process_numbers = itertools.count(1)
        self._ready = asyncio.Event()
        self._closing = False
        self._paused_until = 0.0
        self._recovery: asyncio.Task[None] | None = None
        self.flow = FlowControl()
        self._may_read = asyncio.Event()
        self._may_read.set()
        self._reply_stamps: dict[int, tuple[int, int]] = {}  # rid -> (frame received, future settled) ns
        self.initialized_sent_ns = 0
        self._frame_received_ns = 0

    # ------------------------------------------------------------------ connection

    async def __aenter__(self) -> ExecClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def open(self) -> None:
        """Open the transport (TCP connect + websocket handshake) without initializing."""
        self.transport = await self.open_transport()
        self._ready.set()

    async def open_transport(self) -> Transport:
        return await open_transport(
            self.url,
            history=self.history,
            client_id=self.client_id,
            on_frame=self._on_frame,
            on_lost=self._on_transport_lost,
            headers=self.headers,
            timeout_s=self.request_timeout_s,
            may_read=self._may_read,
        )

    async def initialize(self, *, resume_session_id: str | None = None) -> dict[str, Any]:
        """``initialize`` (keeping ``sessionId``) then the ``initialized`` notification."""
        if self.transport is None:
            raise TransportError("not connected")
        result = await self.initialize_on(self.transport, resume_session_id)
        self._ready.set()
        return result

    async def initialize_on(self, transport: Transport, resume_session_id: str | None) -> dict[str, Any]:
        """Run the initialize handshake on ``transport`` (also used when resuming a session)."""
        params: dict[str, Any] = {"clientName": self.client_name}
        if resume_session_id is not None:
            params["resumeSessionId"] = resume_session_id
        now = time.time_ns
        span = tracer().start_span(SPAN_INITIALIZE, start_time=now(), attributes={tel.SUBPHASE_ATTR: "initialize"})
        try:
            with trace.use_span(span, end_on_exit=False):
                self.history.record("invoke", "initialize", self.client_id, resume=resume_session_id is not None)
                try:
                    result = await self._call_on(transport, "initialize", params, timeout=self.request_timeout_s)
                except BaseException as exc:
                    span.set_status(Status(StatusCode.ERROR, str(exc)))
                    code = exc.code if isinstance(exc, ExecServerError) else None
                    self.history.record("fail", "initialize", self.client_id, code=code, message=str(exc))
                    raise
                result = result if isinstance(result, dict) else {}
                self.session_id = str(result.get("sessionId")) if result.get("sessionId") else self.session_id
                self.initialize_result = result
        finally:
            ended = now()
            span.end(end_time=ended)
        await transport.send({"method": "initialized", "params": {}})
        self.history.record("ok", "initialize", self.client_id, session_id=self.session_id)
        self.initialized_sent_ns = now()
        tel.connect_phase("initialized_sent", "execserver.initialized_sent", ended, self.initialized_sent_ns)
        return result

    @property
    def connected(self) -> bool:
        return self.transport is not None and not self.transport.lost and self._ready.is_set()

    def abort_transport(self) -> None:
        """Drop the current TCP connection abruptly (the client then reconnects and resumes)."""
        if self.transport is not None:
            self.transport.abort()

    async def close(self) -> None:
        """Close the connection; pending calls and open process waiters get a :class:`TransportError`."""
        if self._closing:
            return
        self._closing = True
        self._may_read.set()
        if self._recovery is not None:
            self._recovery.cancel()
            with contextlib.suppress(BaseException):
                await self._recovery
        error = TransportError("client closed")
        for call in self.core.drain():
            self._settle(call.id, error=error)
        for handle in self.processes.values():
            if not handle.done.is_set():
                handle.fail(error)
        consumers = [h.consumer for h in self.processes.values() if h.consumer is not None]
        for task in consumers:
            task.cancel()
        for task in consumers:
            with contextlib.suppress(BaseException):
                await task
        if self.transport is not None:
            await self.transport.close()
        self._ready.set()

    # ------------------------------------------------------------------ receiver-lag hooks

    @property
    def queue_limit(self) -> int:
        """0 (the default): every pushed notification is kept, and the client stops reading the socket while
        its consumers are behind (flow control, so TCP pushes back on the server). n > 0: each process queues
        at most n notifications and drops the rest, recovered by read-back -- a lagging receiver, as the
        ``receiver_lag`` fault asks for. Setting it also applies to running processes."""
        return self._queue_limit

    @queue_limit.setter
    def queue_limit(self, limit: int) -> None:
        self._queue_limit = max(0, int(limit))
        for handle in self.processes.values():
            if not handle.done.is_set():
                handle.set_queue_limit(self._queue_limit)

    def pause_consumer(self, ms: float) -> None:
        """Pause every process consumer for ``ms`` milliseconds (the ``receiver_lag`` fault)."""
        self._paused_until = max(self._paused_until, time.monotonic() + ms / 1000.0)

    def flow_changed(self) -> None:
        """Open or close the socket reader's gate after the flow-control state changed."""
        if self.flow.may_read or self._closing:
            self._may_read.set()
        else:
            self._may_read.clear()

    async def consumer_gate(self) -> None:
        while (remaining := self._paused_until - time.monotonic()) > 0:
            await asyncio.sleep(remaining)

    # ------------------------------------------------------------------ RPC

    async def call(self, method: str, params: Any = None, *, timeout: float | None = None) -> Any:
        """Send a raw request and return its ``result``; raises :class:`ExecServerError` on error."""
        entered_perf, entered = time.perf_counter_ns(), time.time_ns()
        timeout = self.request_timeout_s if timeout is None else timeout
        return await self._rpc(None, method, params, timeout, (entered_perf, entered))

    async def _wait_ready(self, timeout: float) -> Transport:
        deadline = time.monotonic() + max(timeout, self.recovery_deadline_s)
        while True:
            if self.failure is not None:
                raise self.failure
            if self._closing:
                raise TransportError("client closed")
            if self._ready.is_set() and self.transport is not None and not self.transport.lost:
                return self.transport
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TransportError("not connected and recovery did not finish in time")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._ready.wait(), min(remaining, 0.5))

    async def _call_on(self, transport: Transport, method: str, params: Any, *, timeout: float) -> Any:
        return await self._rpc(transport, method, params, timeout, (time.perf_counter_ns(), time.time_ns()))

    async def _rpc(
        self, transport: Transport | None, method: str, params: Any, timeout: float, entered: tuple[int, int]
    ) -> Any:
        """One request as a *whole* (see :mod:`pytest_execserver.telemetry.phases`), ``entered`` being
        (``perf_counter_ns``, ``time_ns``) at entry. Sub-phases: instrument (this span's setup), queue
        (waiting for a ready connection), serialize, send, wait, deserialize (stamped by the reader task),
        hand-off (from the settled future until the call returns)."""
        with tracer().start_as_current_span(
            SPAN_RPC_PREFIX + method, attributes={"rpc.method": method}, start_time=entered[1]
        ) as span:
            phases = tel.Phases("rpc", span, entered[0])
            token = tel.CURRENT.set(phases)
            phases.add("instrument", entered[1], time.time_ns())
            try:
                return await self._rpc_phases(phases, span, transport, method, params, timeout)
            finally:
                tel.CURRENT.reset(token)
                phases.finish()

    async def _rpc_phases(
        self, phases: tel.Phases, span: Any, transport: Transport | None, method: str, params: Any, timeout: float
    ) -> Any:
        now = time.time_ns
        if transport is None:
            start = now()
            try:
                transport = await self._wait_ready(timeout)
            finally:
                phases.add("queue", start, now())
            if tel.INJECTED_GAPS:
                await tel.gap("rpc.after_queue")
        start = now()
        call = self.core.request(method, params, link=transport, trace=trace_field())
        rid, process_id = call.id, call.process_id
        span.set_attribute("rpc.jsonrpc.request_id", rid)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._futures[rid] = future
        self.history.record("invoke", f"rpc:{method}", self.client_id, process_id=process_id, id=rid)
        phases.add("serialize", start, now())
        await transport.send(call.frame)  # times "serialize" (json) and "send" itself
        sent_ns = now()
        try:
            result = await asyncio.wait_for(asyncio.shield(future), timeout)
            self._stamp_reply(phases, rid, sent_ns)
            return result
        except TimeoutError:
            self.core.forget(rid)
            self.history.record(
                "info", f"rpc:{method}", self.client_id, process_id=process_id, id=rid, reason="timeout"
            )
            span.set_status(Status(StatusCode.ERROR, "timeout"))
            raise RequestTimeout(f"{method} (id {rid}) got no response within {timeout}s") from None
        except BaseException as exc:
            self._stamp_reply(phases, rid, sent_ns)
            span.set_status(Status(StatusCode.ERROR, str(exc)))
            raise
        finally:
            self._futures.pop(rid, None)
            self._reply_stamps.pop(rid, None)
            if not future.done():
                future.cancel()

    def _stamp_reply(self, phases: tel.Phases, rid: int, sent_ns: int) -> None:
        """Wait, deserialize and hand-off, from the reader's stamps (none if the call failed locally)."""
        stamps = self._reply_stamps.get(rid)
        if stamps is None:
            return
        received, settled = stamps
        phases.add("wait", sent_ns, received)
        phases.add("deserialize", received, settled)
        phases.until_finish("hand_off", settled)

    def _settle(self, rid: int, result: Any = None, error: BaseException | None = None) -> None:
        future = self._futures.pop(rid, None)
        if future is None or future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)

    def _on_frame(self, transport: Transport, frame: Frame) -> None:
        self._frame_received_ns = transport.frame_received_ns
        incoming = self.core.receive(frame)
        if isinstance(incoming, Reply):
            self._on_reply(incoming)
        elif isinstance(incoming, Pushed):
            self._on_pushed(incoming)
        elif isinstance(incoming, Refusal):
            task = asyncio.get_running_loop().create_task(transport.send(incoming.frame))
            task.add_done_callback(lambda t: t.exception() if not t.cancelled() else None)

    def _on_reply(self, reply: Reply) -> None:
        call = reply.call
        op = f"rpc:{call.method}"
        if call.id in self._futures:
            self._reply_stamps[call.id] = (self._frame_received_ns, 0)
        if reply.error is not None:
            error = reply.error
            self.history.record(
                "fail", op, self.client_id, process_id=call.process_id, id=call.id, code=error.code,
                message=error.message,
            )  # fmt: skip
            self._stamp_settled(call.id)
            self._settle(call.id, error=error)
        else:
            self.history.record("ok", op, self.client_id, process_id=call.process_id, id=call.id)
            self._stamp_settled(call.id)
            self._settle(call.id, reply.result)

    def _stamp_settled(self, rid: int) -> None:
        stamps = self._reply_stamps.get(rid)
        if stamps is not None:
            self._reply_stamps[rid] = (stamps[0], time.time_ns())

    def _on_pushed(self, pushed: Pushed) -> None:
        method, params, event = pushed.method, pushed.params, pushed.event
        data: dict[str, Any] = {}
        if method == "process/output":
            data = {"stream": params.get("stream"), "size": len(getattr(event, "data", b""))}
        elif method == "process/exited":
            data = {"code": params.get("exitCode"), "sandbox_denied": params.get("sandboxDenied")}
        self.history.record("info", f"wire:{method}", self.client_id, process_id=pushed.process_id, seq=event.seq,
                            **data)  # fmt: skip
        handle = self.processes.get(pushed.process_id)
        if handle is None:
            return
        if self.mode == "event-stream":
            handle.on_wire_event(event)
        else:
            handle.on_wire_event_for_reader(event)

    # ------------------------------------------------------------------ transport loss and recovery

    def _on_transport_lost(self, transport: Transport, error: BaseException | None) -> None:
        """Fail or park the calls in flight on ``transport``; start session recovery if it was current."""
        message = f"transport lost: {error!r}" if error is not None else "transport lost"
        for lost in self.core.link_lost(transport):
            call = lost.call
            if lost.start_unknown:
                exc: TransportError = StartOutcomeUnknown(
                    f"{message} while process/start (id {call.id}) was in flight: outcome unknown, not re-sent"
                )
            else:
                exc = TransportError(f"{message} while {call.method} (id {call.id}) was in flight")
            self.history.record(
                "info", f"rpc:{call.method}", self.client_id, process_id=call.process_id, id=call.id,
                reason="transport lost",
            )  # fmt: skip
            self._settle(call.id, error=exc)
        if transport is not self.transport or self._closing or self.failure is not None:
            return
        self._ready.clear()
        self._recovery = asyncio.get_running_loop().create_task(reconnect(self, message))

    @property
    def open_processes(self) -> dict[str, ProcessHandle]:
        """Started processes that have not closed (they read back after a reconnect)."""
        return {pid: h for pid, h in self.processes.items() if h.started and not h.done.is_set()}

    def mark_ready(self) -> None:
        """The (re)connected transport may carry calls."""
        self._ready.set()

    def fail_all(self, error: TransportError) -> None:
        """Give ``error`` to every waiter: pending calls, process waiters and iterators."""
        self.failure = error
        self.history.record("info", "transport_error", self.client_id, message=str(error))
        for call in self.core.drain():
            self.history.record(
                "info", f"rpc:{call.method}", self.client_id, process_id=call.process_id, id=call.id,
                reason="transport error",
            )  # fmt: skip
            self._settle(call.id, error=error)
        for handle in self.processes.values():
            handle.fail(error)
        self._ready.set()

    # ------------------------------------------------------------------ processes

    def resolve_cwd(self, cwd: str | Path | None) -> str:
        """A ``file://`` URI for ``cwd`` (default: the server's own cwd, i.e. its scratch dir)."""
        if cwd is None:
            info = self.initialize_result.get("environmentInfo") or {}
            server_cwd = info.get("cwd") if isinstance(info, dict) else None
            if not isinstance(server_cwd, str):
                raise ValueError("the server reported no cwd; pass cwd= (a path inside its scratch dir)")
            return server_cwd
        uri = cwd if isinstance(cwd, str) and cwd.startswith("file://") else Path(cwd).as_uri()
        path = PurePosixPath(unquote(urlsplit(uri).path))
        if not path.is_absolute() or str(path) == "/" or ".." in path.parts:
            raise ValueError(f"refusing cwd {cwd!r}: must be an absolute path below the server's scratch dir")
        return uri

    async def start(
        self,
        argv: Sequence[str],
        *,
        cwd: str | Path | None = None,
        env: Mapping[str, str] | None = None,
        tty: bool = False,
        pipe_stdin: bool = False,
        process_id: str | None = None,
        extra_params: Mapping[str, Any] | None = None,
    ) -> ProcessHandle:
        """``process/start``; returns a :class:`ProcessHandle` whose consumer runs in the background."""
        if not argv:
            raise ValueError("argv must not be empty")
        pid = process_id or f"{self.client_id}-p{next(self._process_numbers)}-{uuid.uuid4().hex[:6]}"
        params: dict[str, Any] = {
            "processId": pid,
            "argv": list(argv),
            "cwd": self.resolve_cwd(cwd),
            "env": dict(env or {}),
            "tty": tty,
            "pipeStdin": pipe_stdin,
        }
        params.update(extra_params or {})
        handle = ProcessHandle(self, pid, self.queue_limit)
        self.processes[pid] = handle
        handle.begin()
        try:
            handle.start_result = await self.call("process/start", params)
        except BaseException as exc:
            self.processes.pop(pid, None)
            handle.fail(exc)
            raise
        handle.started = True
        handle.phases.mark("start")
        handle.consumer = asyncio.get_running_loop().create_task(run_consumer(handle), name=f"consume-{pid}")
        return handle

    async def run(
        self,
        argv: Sequence[str],
        *,
        cwd: str | Path | None = None,
        env: Mapping[str, str] | None = None,
        tty: bool = False,
        stdin: bytes | None = None,
        timeout: float | None = None,
    ) -> ProcessResult:
        """Start ``argv``, feed ``stdin`` (if any), wait for close; terminates it on ``timeout``."""
        handle = await self.start(argv, cwd=cwd, env=env, tty=tty, pipe_stdin=stdin is not None)
        if stdin is not None:
            await handle.write(stdin, close_stdin=True)
        try:
            return await handle.wait(timeout)
        except TimeoutError:
            with contextlib.suppress(TransportError, ExecServerError):
                await handle.terminate()
            raise


class Connecting:
    """What :func:`connect` returns: await it for the client, or use it with ``async with``."""

    def __init__(self, coro: Coroutine[Any, Any, ExecClient]) -> None:
        self._coro = coro
        self._client: ExecClient | None = None

    def __await__(self) -> Generator[Any, None, ExecClient]:
        return self._coro.__await__()

    async def __aenter__(self) -> ExecClient:
        self._client = await self._coro
        return self._client

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._client is not None:
            await self._client.close()


def connect(
    url: str,
    *,
    mode: str = "event-stream",
    history: History | None = None,
    client_id: str | None = None,
    recovery_deadline_s: float = 10.0,
    queue_limit: int = DEFAULT_QUEUE_LIMIT,
    request_timeout_s: float = DEFAULT_REQUEST_TIMEOUT_S,
    headers: Mapping[str, str] | None = None,
    consumer_delay_s: float = 0.0,
    legacy_wait_ms: int = DEFAULT_LEGACY_WAIT_MS,
    initialize: bool = True,
) -> Connecting:
    """Connect to ``url`` (by default also ``initialize`` + ``initialized``).

    ``client = await connect(url)`` or ``async with connect(url) as client:``. ``mode`` is
    ``"event-stream"`` (pushed notifications) or ``"legacy-read"`` (long-poll ``process/read``).
    """
    return Connecting(
        _connect(
            url, mode=mode, history=history, client_id=client_id, recovery_deadline_s=recovery_deadline_s,
            queue_limit=queue_limit, request_timeout_s=request_timeout_s, headers=headers,
            consumer_delay_s=consumer_delay_s, legacy_wait_ms=legacy_wait_ms, initialize=initialize,
        )
    )  # fmt: skip


async def _connect(
    url: str,
    *,
    mode: str = "event-stream",
    history: History | None = None,
    client_id: str | None = None,
    recovery_deadline_s: float = 10.0,
    queue_limit: int = DEFAULT_QUEUE_LIMIT,
    request_timeout_s: float = DEFAULT_REQUEST_TIMEOUT_S,
    headers: Mapping[str, str] | None = None,
    consumer_delay_s: float = 0.0,
    legacy_wait_ms: int = DEFAULT_LEGACY_WAIT_MS,
    initialize: bool = True,
) -> ExecClient:
    entered_perf, entered = time.perf_counter_ns(), time.time_ns()
    client = ExecClient(
        url,
        mode=mode,
        history=history,
        client_id=client_id,
        recovery_deadline_s=recovery_deadline_s,
        queue_limit=queue_limit,
        request_timeout_s=request_timeout_s,
        headers=headers,
        consumer_delay_s=consumer_delay_s,
        legacy_wait_ms=legacy_wait_ms,
    )
    client_made = time.time_ns()
    with tracer().start_as_current_span(SPAN_CONNECT, attributes={"url": url}, start_time=entered) as span:
        phases = tel.Phases("connect", span, entered_perf)
        token = tel.CONNECTING.set(phases)
        phases.add("setup", entered, client_made)
        phases.add("instrument", client_made, time.time_ns())
        try:
            await client.open()
            if initialize:
                if tel.INJECTED_GAPS:
                    await tel.gap("connect.after_handshake")
                try:
                    await client.initialize()
                except BaseException:
                    await client.close()
                    raise
                phases.add("ready", client.initialized_sent_ns, time.time_ns())
        except BaseException as exc:
            span.set_status(Status(StatusCode.ERROR, str(exc)))
            raise
        finally:
            tel.CONNECTING.reset(token)
            phases.finish()
    return client
