"""A started process: ordered delivery of its events, result accumulation, and control RPCs."""

from __future__ import annotations

import asyncio
import base64
import signal as signal_module
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import Span, Status, StatusCode

from pytest_execserver.checks.history import EventKind
from pytest_execserver.client.errors import RecoveryError, StartOutcomeUnknown, TransportError
from pytest_execserver.client.events import Closed, Event, Exited, OutputChunk, Reassembler
from pytest_execserver.client.ports import ProcessOwner
from pytest_execserver.client.stream import ProcessStream
from pytest_execserver.telemetry.phases import Phases
from pytest_execserver.telemetry.tracing import SPAN_FIRST_OUTPUT, SPAN_PROCESS, tracer


@dataclass
class ProcessResult:
    """The outcome of a process: exit code, output (PTY output is in ``stdout``) and every chunk."""

    process_id: str
    exit_code: int | None
    stdout: bytes
    stderr: bytes
    sandbox_denied: bool | None
    chunks: list[OutputChunk] = field(default_factory=list)

    @property
    def output(self) -> bytes:
        """All output bytes in seq order (stdout, stderr and pty interleaved as produced)."""
        return b"".join(c.data for c in self.chunks)


_END = object()


class ProcessHandle:
    """A process started through :meth:`ExecClient.start`; iterate it for output chunks.

    The decisions (admission, reassembly, gaps, what is held) are its :class:`ProcessStream`'s; the handle
    adds the asyncio parts: the consumer's wake-up queue, the user's iterator, the waiters, and the spans.
    """

    def __init__(self, client: ProcessOwner, process_id: str, queue_limit: int) -> None:
        self.client = client
        self.process_id = process_id
        self.stream = ProcessStream(client.flow, queue_limit)
        # pushed notifications for the consumer (event-stream mode); bounded by flow control, or by the
        # stream's lossy ``queue_limit``. ``None`` is a wake marker: recovery was requested.
        self.queue: asyncio.Queue[Event | None] = asyncio.Queue()
        self.started = False
        self.chunks: list[OutputChunk] = []
        self.exit_code: int | None = None
        self.sandbox_denied: bool | None = None
        self.start_result: Any = None  # the process/start result (e.g. codex's sandboxType)
        self.read_sandbox_denied: bool | None = None  # what a process/read after the exit said, if it said
        self.held_closed: Closed | None = None  # delivered once sandbox denial is learned (see deliver)
        self.error: BaseException | None = None
        self.done = asyncio.Event()
        self._user: asyncio.Queue[OutputChunk | object] = asyncio.Queue()
        self._writes = 0
        self._first_output_seen = False
        self.consumer: asyncio.Task[None] | None = None
        self._span: Span = trace.INVALID_SPAN
        self._first_span: Span = trace.INVALID_SPAN
        self.phases = Phases("process", trace.INVALID_SPAN)  # replaced in begin()

    @property
    def reassembler(self) -> Reassembler:
        return self.stream.reassembler

    @property
    def spill(self) -> dict[int, Event]:
        return self.stream.spill

    @property
    def queue_limit(self) -> int:
        return self.stream.queue_limit

    @property
    def recover_reason(self) -> str | None:
        return self.stream.recover_reason

    # ------------------------------------------------------------------ lifecycle (client side)

    def begin(self) -> None:
        """Called right before ``process/start`` is sent: opens the process and first_output ops."""
        history, cid = self.client.history, self.client.client_id
        history.record("invoke", "process", cid, process_id=self.process_id)
        history.record("invoke", "first_output", cid, process_id=self.process_id)
        self._span = tracer().start_span(SPAN_PROCESS, attributes={"execserver.process_id": self.process_id})
        self.phases = Phases("process", self._span)  # start, first_output, exited, closed: see phases.py
        self._first_span = tracer().start_span(SPAN_FIRST_OUTPUT, attributes={"execserver.process_id": self.process_id})

    def on_wire_event(self, event: Event) -> None:
        """A pushed notification (event-stream mode): queue it for the consumer, unless the stream refuses."""
        if not self.done.is_set() and self.stream.admit(event, self.queue.qsize()):
            self.queue.put_nowait(event)
        self.client.flow_changed()

    def on_wire_event_for_reader(self, event: Event) -> None:
        """A pushed notification in legacy-read mode: kept only to fill output that process/read lost."""
        if not self.done.is_set():
            self.stream.keep(event)
        self.client.flow_changed()

    def set_queue_limit(self, limit: int) -> None:
        """Change the notification queue bound, also while the process runs (the ``receiver_lag`` fault)."""
        self.stream.queue_limit = max(0, int(limit))

    def request_recovery(self, reason: str) -> None:
        """Ask the consumer for a read-back, and wake it now if it is waiting for a notification."""
        self.stream.request_recovery(reason)
        if self.queue.empty():
            self.queue.put_nowait(None)  # wake marker; a non-empty queue means the consumer loops anyway

    def deliver(self, events: list[Event]) -> None:
        """Hand in-order events to the user, recording ``deliver:*``.

        ``closed`` waits in :attr:`held_closed` while the exit's sandbox denial is unknown (a server that
        omits ``sandboxDenied`` on ``process/exited``): the consumer first asks with one ``process/read``.
        """
        for event in events:
            if isinstance(event, Closed) and self.sandbox_denial_unknown:
                self.held_closed = event
                continue
            self._deliver(event)
        self.stream.delivered()
        self.client.flow_changed()

    def deliver_ready(self) -> None:
        """Deliver whatever the reassembler can release now."""
        self.deliver(self.stream.reassembler.pop_ready())

    @property
    def sandbox_denial_unknown(self) -> bool:
        """The process exited, and neither its ``exited`` event nor a read after it said whether the sandbox
        denied something."""
        if self.exit_code is None or self.sandbox_denied is not None:
            return False
        if self.read_sandbox_denied is not None:
            self.learn_sandbox_denied(self.read_sandbox_denied, "process/read")
            return False
        return True

    def learn_sandbox_denied(self, value: bool | None, source: str) -> None:
        """Set the result's sandbox denial from ``source`` (the ``exited`` event carried none)."""
        self.sandbox_denied = value
        self.client.history.record(
            "info", "sandbox_denied", self.client.client_id, process_id=self.process_id, value=value, source=source
        )

    def deliver_held_closed(self) -> None:
        if self.held_closed is not None:
            event, self.held_closed = self.held_closed, None
            self._deliver(event)

    def _deliver(self, event: Event) -> None:
        history, cid, pid = self.client.history, self.client.client_id, self.process_id
        if isinstance(event, OutputChunk):
            history.record(
                "info",
                "deliver:output",
                cid,
                process_id=pid,
                seq=event.seq,
                stream=event.stream,
                chunk=event.data,
            )
            self.chunks.append(event)
            if not self._first_output_seen:
                self._first_output_seen = True
                history.record("ok", "first_output", cid, process_id=pid)
                self._first_span.end()
                self.phases.mark("first_output")
            self._user.put_nowait(event)
        elif isinstance(event, Exited):
            self.exit_code = event.exit_code
            self.sandbox_denied = event.sandbox_denied
            history.record(
                "info",
                "deliver:exited",
                cid,
                process_id=pid,
                seq=event.seq,
                code=event.exit_code,
                sandbox_denied=event.sandbox_denied,
            )
            self._span.set_attribute("execserver.exit_code", event.exit_code)
            self.phases.mark("exited")
        elif isinstance(event, Closed):
            history.record("info", "deliver:closed", cid, process_id=pid, seq=event.seq)
            if not self._first_output_seen:
                history.record("info", "first_output", cid, process_id=pid, reason="closed without output")
                self._first_span.end()
            history.record("ok", "process", cid, process_id=pid, exit_code=self.exit_code)
            self.phases.mark("closed")
            self.phases.finish()
            self._span.end()
            self._finish(None)

    def fail(self, error: BaseException) -> None:
        """End the process with an error: every waiter and iterator gets ``error``."""
        if self.done.is_set():
            return
        history, cid, pid = self.client.history, self.client.client_id, self.process_id
        unknown = isinstance(error, TransportError) and not isinstance(error, RecoveryError)
        kind: EventKind = "info" if unknown or isinstance(error, StartOutcomeUnknown) else "fail"
        history.record(kind, "process", cid, process_id=pid, message=str(error), error=type(error).__name__)
        if not self._first_output_seen:
            history.record(kind, "first_output", cid, process_id=pid, message=str(error))
            self._first_span.end()
        self._span.set_status(Status(StatusCode.ERROR, str(error)))
        self.phases.finish()
        self._span.end()
        self._finish(error)

    def _finish(self, error: BaseException | None) -> None:
        self.error = error
        self.stream.release_all()
        self.client.flow_changed()
        self.done.set()
        self._user.put_nowait(_END)
        if self.consumer is not None and self.consumer is not asyncio.current_task():
            self.consumer.cancel()

    # ------------------------------------------------------------------ public API

    @property
    def closed(self) -> bool:
        """True once the process is closed (or failed)."""
        return self.done.is_set()

    def result(self) -> ProcessResult:
        """The result so far (complete once :attr:`closed`)."""
        # stdout/stderr are joined here, not accumulated as chunks arrive: the chunks are the one kept copy
        stdout = b"".join(c.data for c in self.chunks if c.stream != "stderr")
        stderr = b"".join(c.data for c in self.chunks if c.stream == "stderr")
        return ProcessResult(
            self.process_id, self.exit_code, stdout, stderr, self.sandbox_denied, list(self.chunks)
        )

    async def __aiter__(self) -> AsyncIterator[OutputChunk]:
        """Output chunks in seq order, each once; raises the process's error if it failed."""
        while True:
            item = await self._user.get()
            if item is _END:
                self._user.put_nowait(_END)  # let other iterators finish too
                if self.error is not None:
                    raise self.error
                return
            assert isinstance(item, OutputChunk)
            yield item

    async def wait(self, timeout: float | None = None) -> ProcessResult:
        """Wait for ``process/closed`` (bounded by ``timeout``) and return the result."""
        try:
            await asyncio.wait_for(self.done.wait(), timeout)
        except TimeoutError:
            raise TimeoutError(f"process {self.process_id} not closed within {timeout}s") from None
        if self.error is not None:
            raise self.error
        return self.result()

    async def write(self, data: bytes, *, close_stdin: bool = False) -> str:
        """Write to stdin (``process/write`` with a fresh ``writeId``); returns the server's status.

        ``close_stdin`` sends ``closeStdin: true``; servers without that field (codex 0.169.0) ignore it.
        """
        self._writes += 1
        params: dict[str, Any] = {
            "processId": self.process_id,
            "chunk": base64.b64encode(data).decode("ascii"),
            "writeId": f"{self.process_id}-w{self._writes}",
        }
        if close_stdin:
            params["closeStdin"] = True
        result = await self.client.call("process/write", params)
        return str(result.get("status", "")) if isinstance(result, dict) else ""

    async def signal(self, sig: str | int = "interrupt") -> None:
        """Send a signal (``process/signal``); SIGINT maps to the protocol's ``interrupt``."""
        name = sig
        if isinstance(sig, int):
            name = "interrupt" if sig == signal_module.SIGINT else signal_module.Signals(sig).name.lower()
        await self.client.call("process/signal", {"processId": self.process_id, "signal": name})

    async def terminate(self) -> bool:
        """``process/terminate``; returns whether the process was still running."""
        result = await self.client.call("process/terminate", {"processId": self.process_id})
        return bool(result.get("running")) if isinstance(result, dict) else False

    async def close(self, timeout: float = 5.0) -> ProcessResult | None:
        """Terminate the process if it is still open and wait (bounded) for it to close."""
        if not self.done.is_set():
            try:
                await self.terminate()
                return await self.wait(timeout)
            except (TransportError, TimeoutError):
                return None
        return None if self.error else self.result()
