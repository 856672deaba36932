"""OpenTelemetry server spans continuing the request's W3C ``trace`` (only when OTEL_* asks for export).

One span per request, ``execserver.server <method>``, from the decoded request to the result, a child of the
client's RPC span (the ``trace.traceparent`` it sent). With ``OTEL_TRACES_EXPORTER=otlp`` or an
``OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT`` they go out through the standard OTLP exporter (OTLP/HTTP unless
the protocol variable says ``grpc``) in batches (``OTEL_BSP_SCHEDULE_DELAY``): the harness points
fixture-started servers at its loopback receiver this way and joins these spans with the client's.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import sys
from collections.abc import Iterator
from typing import Any

log = logging.getLogger("execserver_ref.tracing")


def _otlp_exporter() -> Any:
    """The standard OTLP exporter for ``OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL`` (default ``http/protobuf``),
    configured by the standard variables; None if no exporter package is installed."""
    protocol = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or os.environ.get(
        "OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"
    )
    modules = ["opentelemetry.exporter.otlp.proto.http.trace_exporter",
               "opentelemetry.exporter.otlp.proto.grpc.trace_exporter"]
    if protocol == "grpc":
        modules.reverse()
    for module_name in modules:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        return module.OTLPSpanExporter()
    return None


class Tracing:
    """``span(method, trace)`` is a no-op context unless an exporter was configured via OTEL_* env."""

    def __init__(self) -> None:
        self.enabled = False
        self._tracer: Any = None
        self._propagator: Any = None
        self._provider: Any = None

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Tracing:
        env = dict(os.environ) if env is None else env
        tracing = cls()
        exporter_names = env.get("OTEL_TRACES_EXPORTER", "").strip().lower()
        endpoint = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        if exporter_names in ("", "none") and not endpoint:
            return tracing
        if exporter_names == "none":
            return tracing
        try:
            tracing._setup(exporter_names or "otlp")
        except Exception as exc:  # never let telemetry stop the server
            log.warning("tracing disabled: %s", exc)
        return tracing

    def _setup(self, names: str) -> None:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        service = os.environ.get("OTEL_SERVICE_NAME", "execserver-ref")
        provider = TracerProvider(resource=Resource.create({"service.name": service}))
        added = 0
        for name in (n.strip() for n in names.split(",")):
            exporter: Any
            if name == "console":
                exporter = ConsoleSpanExporter(out=sys.stderr)
            elif name == "otlp":
                exporter = _otlp_exporter()
                if exporter is None:
                    log.warning("OTLP exporter package not installed; spans not exported")
                    continue
            else:
                log.warning("unsupported OTEL_TRACES_EXPORTER %r", name)
                continue
            provider.add_span_processor(BatchSpanProcessor(exporter))
            added += 1
        if not added:
            return
        self._provider = provider
        self._tracer = provider.get_tracer("execserver_ref")
        self._propagator = TraceContextTextMapPropagator()
        self.enabled = True

    @contextlib.contextmanager
    def _span(self, method: str, trace: dict[str, Any] | None) -> Iterator[Any]:
        carrier: dict[str, str] = {}
        if trace:
            for key in ("traceparent", "tracestate"):
                value = trace.get(key)
                if isinstance(value, str):
                    carrier[key] = value
        context = self._propagator.extract(carrier) if carrier else None
        from opentelemetry.trace import SpanKind

        with self._tracer.start_as_current_span(
            f"execserver.server {method}", context=context, kind=SpanKind.SERVER
        ) as span:
            span.set_attribute("rpc.system", "jsonrpc")
            span.set_attribute("rpc.method", method)
            yield span

    def span(self, method: str, trace: dict[str, Any] | None) -> contextlib.AbstractContextManager[Any]:
        if not self.enabled:
            return contextlib.nullcontext()
        return self._span(method, trace)

    def shutdown(self) -> None:
        if self._provider is not None:
            with contextlib.suppress(Exception):
                self._provider.shutdown()
