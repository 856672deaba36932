"""Sub-phase spans of a *whole* (connect, one RPC, one process) and the whole's independent wall time.

A whole is a span carrying ``execserver.whole`` (``connect``/``rpc``/``process``) and ``execserver.wall_ns``:
the wall time from entry to exit taken with :func:`time.perf_counter_ns`, never from span timestamps. Its
direct child spans are its named sub-phases. The analysis compares the union of the sub-phases with the
wall time: a gap between two sub-phases (work nobody named) lowers the coverage.

:class:`Phases` records sub-phase intervals (``time.time_ns``, the clock OTel spans use) while the whole
runs, possibly from other tasks (the reader task stamps a reply's arrival); they become child spans later,
off the measured path (:func:`emit_pending`, called when the plugin drains or flushes spans).
:data:`CURRENT` holds the RPC being sent by the current task, so the transport can time serialization and
sending without a changed signature; :data:`CONNECTING` the running ``connect()``.

:func:`gap` is the test hook: a named point between two sub-phases where a test may inject a delay.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time

from opentelemetry import trace
from opentelemetry.trace import Span

from pytest_execserver.telemetry.names import SUBPHASE_ATTR as SUBPHASE_ATTR
from pytest_execserver.telemetry.names import WALL_ATTR, WHOLE_ATTR
from pytest_execserver.telemetry.tracing import tracer

#: test hook: ``{point: seconds}``; :func:`gap` sleeps that long at ``point`` (outside every sub-phase).
INJECTED_GAPS: dict[str, float] = {}


async def gap(point: str) -> None:
    """Sleep for the delay a test injected at ``point`` (normally none)."""
    delay = INJECTED_GAPS.get(point)
    if delay:
        await asyncio.sleep(delay)


class Phases:
    """The sub-phase intervals of one whole, emitted as child spans of ``span`` by :meth:`finish`."""

    def __init__(self, whole: str, span: Span, wall_start_ns: int | None = None) -> None:
        self.whole = whole
        self.span = span
        self.intervals: list[tuple[str, int, int, str | None]] = []
        self._wall_start = time.perf_counter_ns() if wall_start_ns is None else wall_start_ns
        self._last_mark = time.time_ns()
        self._tail: tuple[str, int] | None = None
        self.finished = False
        span.set_attribute(WHOLE_ATTR, whole)

    def add(self, name: str, start_ns: int, end_ns: int, span_name: str | None = None) -> None:
        """Sub-phase ``name`` ran from ``start_ns`` to ``end_ns`` (``time.time_ns``); its span is called
        ``span_name`` (default ``execserver.<whole>.<name>``)."""
        self.intervals.append((name, start_ns, max(start_ns, end_ns), span_name))

    def mark(self, name: str, at_ns: int | None = None) -> None:
        """Sub-phase ``name`` ran from the previous mark to now (phases that are waits between events)."""
        now = time.time_ns() if at_ns is None else at_ns
        now = max(now, self._last_mark)
        self.add(name, self._last_mark, now)
        self._last_mark = now

    def until_finish(self, name: str, start_ns: int) -> None:
        """Sub-phase ``name`` runs from ``start_ns`` until :meth:`finish` (the whole's last one)."""
        self._tail = (name, start_ns)

    def finish(self) -> None:
        """Stop the wall clock and store it on the whole's span; queue the sub-phase spans (once).

        The sub-phase spans are created later, by :func:`emit_pending` (``otel.drain``/``otel.flush`` call
        it), not here: creating a span costs tens of microseconds, which would otherwise land on every call
        -- outside its measured wall time, or inside it as the harness's own overhead. When many wholes are
        pending they are emitted here, before the clock stops, as the sub-phase ``instrument``."""
        if self.finished:
            return
        self.finished = True
        end = time.time_ns()
        if self._tail is not None:
            self.add(self._tail[0], self._tail[1], end)
        if len(_PENDING) >= MAX_PENDING:
            emit_pending()
            self.add("instrument", end, time.time_ns())
        self.span.set_attribute(WALL_ATTR, time.perf_counter_ns() - self._wall_start)
        with _PENDING_LOCK:
            _PENDING.append(self)

    def emit(self) -> None:
        """Create the sub-phase spans, children of the whole's span, with their recorded times."""
        client_tracer = tracer()
        parent = trace.set_span_in_context(self.span)
        for name, start, end, span_name in self.intervals:
            child = client_tracer.start_span(
                span_name or f"execserver.{self.whole}.{name}", context=parent, start_time=start,
                attributes={SUBPHASE_ATTR: name},
            )  # fmt: skip
            child.end(end_time=end)


MAX_PENDING = 512
_PENDING: list[Phases] = []
_PENDING_LOCK = threading.Lock()


def emit_pending() -> None:
    """Create the sub-phase spans of every finished whole (see :meth:`Phases.finish`)."""
    with _PENDING_LOCK:
        pending = list(_PENDING)
        _PENDING.clear()
    for phases in pending:
        phases.emit()


#: the RPC the current task is sending (set by the client around one call)
CURRENT: contextvars.ContextVar[Phases | None] = contextvars.ContextVar("execserver_rpc_phases", default=None)
#: the connect() the current task is running
CONNECTING: contextvars.ContextVar[Phases | None] = contextvars.ContextVar("execserver_connect", default=None)


def connect_phase(name: str, span_name: str, start_ns: int, end_ns: int, **attributes: str) -> None:
    """Record a connect sub-phase: into the running connect() whole, else (a reconnect) as a span now."""
    phases = CONNECTING.get()
    if phases is not None:
        phases.add(name, start_ns, end_ns, span_name)
        return
    span = tracer().start_span(
        span_name, start_time=start_ns, attributes={SUBPHASE_ATTR: name, **attributes}
    )
    span.end(end_time=end_ns)
