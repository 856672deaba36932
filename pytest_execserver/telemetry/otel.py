"""OpenTelemetry for the harness: a tracer provider of our own with an in-memory exporter, and span coverage.

Nothing here imports the OpenTelemetry SDK until :func:`install` runs, which the fixtures do when a test
first makes a client, so a session that never uses the harness never loads it. :func:`install` creates an
SDK :class:`TracerProvider` *of our own* (never the global one by default, so a project's own
``set_tracer_provider`` keeps working) with an :class:`InMemorySpanExporter` the plugin drains per test,
and hands it to :mod:`pytest_execserver.telemetry.tracing`, whose tracer the client uses.

The global provider is touched only when the user asks, with ``install(make_global=True)``
(``--execserver-otel-global``): then our provider becomes the global one, or, if an SDK provider already
is, our exporter is attached to that one instead. When the standard OTel environment asks for OTLP
(``OTEL_TRACES_EXPORTER`` containing ``otlp``, or ``OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT``) and an OTLP
exporter package is importable, spans are exported there too (configured by the same ``OTEL_*``
variables).

Span coverage: the share of each whole's independently measured wall time (connect, each RPC, each
process) that its named sub-phase spans explain; see :mod:`pytest_execserver.telemetry`.
"""

from __future__ import annotations

import importlib
import json
import os
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pytest_execserver.checks.history import HistoryEvent

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

_EXPORTER: InMemorySpanExporter | None = None
_PROVIDER: TracerProvider | None = None
_OTLP: str | None = None
# time.time_ns() - time.monotonic_ns(): spans use wall-clock ns, histories monotonic ns.
_CLOCK_OFFSET_NS = time.time_ns() - time.monotonic_ns()

COVERAGE_PHASES = {"connect": ("connect", "execserver.connect"), "rpc": ("rpc:", "execserver.rpc ")}


def otlp_wanted() -> bool:
    """Whether the standard OTel environment asks for OTLP export (no import needed to tell)."""
    wanted = "otlp" in os.environ.get("OTEL_TRACES_EXPORTER", "").lower() or any(
        os.environ.get(v) for v in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    )
    return wanted and os.environ.get("OTEL_SDK_DISABLED", "").lower() != "true"


def install(make_global: bool = False) -> InMemorySpanExporter:
    """Create (once per process) our provider and in-memory exporter; return the exporter.

    ``make_global``: also make the provider the process's global one (see the module docstring).
    """
    global _EXPORTER, _PROVIDER, _OTLP
    if _EXPORTER is not None:
        if make_global:
            _make_global()
        return _EXPORTER
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from pytest_execserver.telemetry import tracing

    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "pytest-execserver"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    otlp = _otlp_exporter()
    if otlp is not None:
        provider.add_span_processor(BatchSpanProcessor(otlp))
        _OTLP = type(otlp).__module__
    _EXPORTER, _PROVIDER = exporter, provider
    tracing.use_provider(provider)
    if make_global:
        _make_global()
    return exporter


def _make_global() -> None:
    """Make our provider the global one; if an SDK provider already is, feed our exporter from it too."""
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    from pytest_execserver.telemetry import tracing

    assert _PROVIDER is not None and _EXPORTER is not None
    current = trace.get_tracer_provider()
    if current is _PROVIDER:
        return
    if not isinstance(current, TracerProvider):
        trace.set_tracer_provider(_PROVIDER)
        current = trace.get_tracer_provider()
    if current is not _PROVIDER and isinstance(current, TracerProvider):
        current.add_span_processor(SimpleSpanProcessor(_EXPORTER))
        tracing.use_provider(current)


def otlp_status() -> str | None:
    """Which OTLP exporter module is active, if the environment asked for one and it was importable."""
    return _OTLP


def _otlp_exporter() -> SpanExporter | None:
    if not otlp_wanted():
        return None
    protocol = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or os.environ.get(
        "OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"
    )
    modules = ["opentelemetry.exporter.otlp.proto.http.trace_exporter",
               "opentelemetry.exporter.otlp.proto.grpc.trace_exporter"]
    if protocol == "grpc":
        modules.reverse()
    for name in modules:
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        exporter: SpanExporter = module.OTLPSpanExporter()
        return exporter
    return None


def flush() -> None:
    _emit_pending_phases()
    if _PROVIDER is not None:
        _PROVIDER.force_flush(2000)


def drain() -> list[ReadableSpan]:
    """Every finished span since the last drain (none before :func:`install`)."""
    _emit_pending_phases()
    if _EXPORTER is None:
        return []
    spans = list(_EXPORTER.get_finished_spans())
    _EXPORTER.clear()
    return spans


def spans_to_json(spans: Sequence[ReadableSpan]) -> list[dict[str, Any]]:
    out = []
    for span in spans:
        ctx = span.get_span_context()
        out.append({
            "name": span.name,
            "trace_id": f"{ctx.trace_id:032x}" if ctx else None,
            "span_id": f"{ctx.span_id:016x}" if ctx else None,
            "parent_id": f"{span.parent.span_id:016x}" if span.parent else None,
            "start_time_ns": span.start_time,
            "end_time_ns": span.end_time,
            "duration_ms": ((span.end_time or 0) - (span.start_time or 0)) / 1e6,
            "status": span.status.status_code.name,
            "attributes": {k: _jsonable(v) for k, v in (span.attributes or {}).items()},
        })
    return out


def _jsonable(value: Any) -> Any:
    try:
        json.dumps(value)
    except TypeError:
        return list(value) if isinstance(value, tuple) else str(value)
    return value


def _emit_pending_phases() -> None:
    """Create the sub-phase spans the client queued (they are made off the call path)."""
    if _EXPORTER is not None:
        from pytest_execserver.telemetry import phases

        phases.emit_pending()


# -------------------------------------------------------------------------------------------- coverage


def coverage(
    events: Sequence[HistoryEvent], spans: Sequence[ReadableSpan], offset_ns: int | None = None
) -> dict[str, dict[str, Any]]:
    """``{whole: {"measured_ms", "covered_ms", "samples"}}`` for connect, rpc and process.

    ``measured_ms`` is each whole's wall time taken independently of the spans; ``covered_ms`` what its named
    sub-phase spans explain (see :mod:`pytest_execserver.telemetry`). ``events`` and ``offset_ns`` are no
    longer used (the old figure compared history intervals with spans taken at the same points).
    """
    from pytest_execserver.telemetry.collect import analyse_test

    return analyse_test(spans)
