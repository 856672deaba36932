"""OpenTelemetry for the harness: an SDK tracer provider with an in-memory exporter, and span coverage.

The plugin installs (once per process) an SDK :class:`TracerProvider` as the global provider, with an
:class:`InMemorySpanExporter` the plugin drains per test. When the standard OTel environment asks for
OTLP (``OTEL_TRACES_EXPORTER`` containing ``otlp``, or ``OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT``) and an
OTLP exporter package is importable, spans are exported there too (configured by the same ``OTEL_*``
variables). If another SDK provider is already global, the exporter is attached to it instead.

Span coverage: the fraction of connect / RPC wall time measured by the history that is covered by the
matching spans (``execserver.connect``; ``execserver.rpc <method>``), a check that the instrumentation
sees what the client actually waited for.
"""

from __future__ import annotations

import importlib
import json
import os
import time
from collections.abc import Iterable, Sequence
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from pytest_execserver.history import HistoryEvent

_EXPORTER: InMemorySpanExporter | None = None
_OTLP: str | None = None
# time.time_ns() - time.monotonic_ns(): spans use wall-clock ns, histories monotonic ns.
_CLOCK_OFFSET_NS = time.time_ns() - time.monotonic_ns()

COVERAGE_PHASES = {"connect": ("connect", "execserver.connect"), "rpc": ("rpc:", "execserver.rpc ")}


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
    provider = trace.get_tracer_provider()
    if isinstance(provider, TracerProvider):
        provider.force_flush(2000)


def drain() -> list[ReadableSpan]:
    """Every finished span since the last drain."""
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


def _intervals(events: Iterable[HistoryEvent], prefix: str) -> list[tuple[int, int]]:
    """Monotonic-ns intervals of completed ops whose name is ``prefix`` (or starts with it if ``:``)."""
    pending: dict[tuple[str, str, str | None, Any], int] = {}
    out: list[tuple[int, int]] = []
    for e in events:
        if not (e.op == prefix or (prefix.endswith(":") and e.op.startswith(prefix))):
            continue
        key = (e.client, e.op, e.process_id, e.data.get("id"))
        if e.kind == "invoke":
            pending[key] = e.time_ns
        elif e.kind in ("ok", "fail") and key in pending:
            out.append((pending.pop(key), e.time_ns))
    return out


def _union(intervals: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _overlap(a: list[tuple[int, int]], b: list[tuple[int, int]]) -> int:
    total, i, j = 0, 0, 0
    while i < len(a) and j < len(b):
        lo, hi = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if hi > lo:
            total += hi - lo
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return total


def coverage(
    events: Sequence[HistoryEvent], spans: Sequence[ReadableSpan], offset_ns: int | None = None
) -> dict[str, dict[str, float]]:
    """``{phase: {"measured_ms", "covered_ms"}}`` for connect and rpc."""
    offset = _CLOCK_OFFSET_NS if offset_ns is None else offset_ns
    out: dict[str, dict[str, float]] = {}
    for phase, (op, span_name) in COVERAGE_PHASES.items():
        measured = _union(_intervals(events, op))
        span_iv = _union(
            (s.start_time - offset, s.end_time - offset)
            for s in spans
            if s.start_time is not None and s.end_time is not None
            and (s.name == span_name or (span_name.endswith(" ") and s.name.startswith(span_name)))
        )
        out[phase] = {
            "measured_ms": sum(e - s for s, e in measured) / 1e6,
            "covered_ms": _overlap(measured, span_iv) / 1e6,
        }
    return out
