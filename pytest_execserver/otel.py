"""OpenTelemetry for the harness: an SDK tracer provider with an in-memory exporter, and span coverage.

The plugin installs (once per process) an SDK :class:`TracerProvider` as the global provider, with an
:class:`InMemorySpanExporter` the plugin drains per test. When the standard OTel environment asks for
OTLP (``OTEL_TRACES_EXPORTER`` containing ``otlp``, or ``OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT``) and an
OTLP exporter package is importable, spans are exported there too (configured by the same ``OTEL_*``
variables). If another SDK provider is already global, the exporter is attached to it instead.

Span coverage: the share of each whole's independently measured wall time (connect, each RPC, each
process) that its named sub-phase spans explain; see :mod:`pytest_execserver.telemetry`.
"""

from __future__ import annotations

import importlib
import json
import os
from collections.abc import Sequence
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from pytest_execserver.history import HistoryEvent
from pytest_execserver.telemetry import phases

_EXPORTER: InMemorySpanExporter | None = None
_OTLP: str | None = None


def install() -> InMemorySpanExporter:
    """Install (idempotently) the SDK provider and the in-memory exporter; return the exporter."""
    global _EXPORTER, _OTLP
    if _EXPORTER is not None:
        return _EXPORTER
    exporter = InMemorySpanExporter()
    current = trace.get_tracer_provider()
    if isinstance(current, TracerProvider):
        provider = current
    else:
        provider = TracerProvider(resource=Resource.create({"service.name": "pytest-execserver"}))
        trace.set_tracer_provider(provider)
        if trace.get_tracer_provider() is not provider:  # someone else won the race
            other = trace.get_tracer_provider()
            if isinstance(other, TracerProvider):
                provider = other
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    otlp = _otlp_exporter()
    if otlp is not None:
        provider.add_span_processor(BatchSpanProcessor(otlp))
        _OTLP = type(otlp).__module__
    _EXPORTER = exporter
    return exporter


def otlp_status() -> str | None:
    """Which OTLP exporter module is active, if the environment asked for one and it was importable."""
    return _OTLP


def _otlp_exporter() -> SpanExporter | None:
    wanted = "otlp" in os.environ.get("OTEL_TRACES_EXPORTER", "").lower() or any(
        os.environ.get(v) for v in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    )
    if not wanted or os.environ.get("OTEL_SDK_DISABLED", "").lower() == "true":
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
    phases.emit_pending()
    provider = trace.get_tracer_provider()
    if isinstance(provider, TracerProvider):
        provider.force_flush(2000)


def drain() -> list[ReadableSpan]:
    """Every finished span since the last drain."""
    phases.emit_pending()
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
