"""OpenTelemetry spans for the exec-server client and W3C trace context for its requests.

Span names: ``execserver.connect`` (``connect()`` to ready), ``execserver.ws_handshake``, ``execserver.initialize``,
``execserver.rpc <method>``, ``execserver.process`` (start to closed) and ``execserver.first_output``; their
sub-phase spans are described in :mod:`pytest_execserver.telemetry`.
Every JSON-RPC request carries ``"trace": {"traceparent": ..., "tracestate": ...}`` (the shape codex's
``JSONRPCRequest.trace`` / ``W3cTraceContext`` uses), taken from the current span. Spans come from the
provider given to :func:`use_provider` (the plugin gives its own, see :mod:`pytest_execserver.telemetry.otel`), else
from the global one; without any, requests still carry a valid, unsampled random ``traceparent`` so the
server side can always continue a trace.
"""

from __future__ import annotations

import re
import secrets
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

TRACER_NAME = "pytest_execserver.client"

SPAN_CONNECT = "execserver.connect"
SPAN_WS_HANDSHAKE = "execserver.ws_handshake"
SPAN_INITIALIZE = "execserver.initialize"
SPAN_RPC_PREFIX = "execserver.rpc "
SPAN_PROCESS = "execserver.process"
SPAN_FIRST_OUTPUT = "execserver.first_output"

_PROPAGATOR = TraceContextTextMapPropagator()
_TRACEPARENT_RE = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")


_PROVIDER: trace.TracerProvider | None = None


def use_provider(provider: trace.TracerProvider | None) -> None:
    """Make the client's spans go to ``provider`` (``None``: the global provider)."""
    global _PROVIDER
    _PROVIDER = provider


def tracer() -> trace.Tracer:
    """The client's tracer: from the provider given to :func:`use_provider`, else the global one."""
    if _PROVIDER is not None:
        return _PROVIDER.get_tracer(TRACER_NAME)
    return trace.get_tracer(TRACER_NAME)


def trace_field(ctx: otel_context.Context | None = None) -> dict[str, str]:
    """The request ``trace`` object for ``ctx`` (default: the current context)."""
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier, context=ctx)
    out = {"traceparent": carrier["traceparent"]} if "traceparent" in carrier else {}
    if not out:
        out["traceparent"] = f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-00"
    if carrier.get("tracestate"):
        out["tracestate"] = carrier["tracestate"]
    return out


def parse_traceparent(value: Any) -> tuple[str, str, int] | None:
    """``(trace_id, span_id, flags)`` of a valid W3C traceparent, else None."""
    if not isinstance(value, str):
        return None
    match = _TRACEPARENT_RE.match(value)
    if match is None or match.group(1) == "ff":
        return None
    trace_id, span_id = match.group(2), match.group(3)
    if trace_id == "0" * 32 or span_id == "0" * 16:
        return None
    return trace_id, span_id, int(match.group(4), 16)
