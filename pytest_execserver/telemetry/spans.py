"""A neutral span record for the analysis: from SDK spans (the client) and from OTLP protobuf (servers)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan


@dataclass(frozen=True)
class SpanRecord:
    """One finished span: ids as lowercase hex, times in Unix ns (both sides share the host's clock)."""

    name: str
    trace_id: str
    span_id: str
    parent_id: str | None
    start_ns: int
    end_ns: int
    attributes: Mapping[str, Any] = field(default_factory=dict)
    service: str = ""
    error: bool = False

    @property
    def duration_ns(self) -> int:
        return max(0, self.end_ns - self.start_ns)

    @classmethod
    def from_readable(cls, span: ReadableSpan, service: str = "pytest-execserver") -> SpanRecord | None:
        """From an SDK span (None if it is not finished or has no valid context)."""
        ctx = span.context
        if ctx is None or span.start_time is None or span.end_time is None:
            return None
        return cls(
            name=span.name,
            trace_id=f"{ctx.trace_id:032x}",
            span_id=f"{ctx.span_id:016x}",
            parent_id=f"{span.parent.span_id:016x}" if span.parent is not None else None,
            start_ns=span.start_time,
            end_ns=span.end_time,
            attributes=dict(span.attributes or {}),
            service=service,
            error=span.status.status_code.name == "ERROR",
        )


def from_readables(spans: Iterable[ReadableSpan]) -> list[SpanRecord]:
    return [r for r in (SpanRecord.from_readable(s) for s in spans) if r is not None]


def _any_value(value: Any) -> Any:
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [_any_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: _any_value(kv.value) for kv in value.kvlist_value.values}
    if kind == "bytes_value":
        return value.bytes_value.hex()
    return getattr(value, kind)


def from_otlp(request: Any) -> list[SpanRecord]:
    """The spans of an ``ExportTraceServiceRequest`` (``opentelemetry.proto``) message."""
    out: list[SpanRecord] = []
    for resource_spans in request.resource_spans:
        resource = {kv.key: _any_value(kv.value) for kv in resource_spans.resource.attributes}
        service = str(resource.get("service.name", ""))
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                out.append(SpanRecord(
                    name=span.name,
                    trace_id=span.trace_id.hex(),
                    span_id=span.span_id.hex(),
                    parent_id=span.parent_span_id.hex() or None,
                    start_ns=int(span.start_time_unix_nano),
                    end_ns=int(span.end_time_unix_nano),
                    attributes={kv.key: _any_value(kv.value) for kv in span.attributes},
                    service=service,
                    error=span.status.code == 2,  # STATUS_CODE_ERROR
                ))  # fmt: skip
    return out
