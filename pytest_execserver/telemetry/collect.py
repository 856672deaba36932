"""One test's telemetry: its client spans joined with the servers' spans from the shared OTLP receiver."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan

from pytest_execserver.telemetry import receiver as receivers
from pytest_execserver.telemetry.analysis import analyse, rpc_parents_needing_server, wholes
from pytest_execserver.telemetry.spans import SpanRecord, from_readables

#: how long after the client's last span to wait for a server's last span batch (servers started by the
#: harness flush every SERVER_BSP_SCHEDULE_DELAY_MS)
SERVER_SPANS_WAIT_S = 0.5


def server_spans_for(client: Sequence[SpanRecord], wait_s: float = SERVER_SPANS_WAIT_S) -> list[SpanRecord]:
    """The servers' spans for ``client``'s RPCs, taken out of the shared receiver.

    That is the spans in ``client``'s traces, and root spans that began while the client ran (a server that
    does not continue the trace; see :func:`.analysis.wholes`). Waits (at most ``wait_s``) until every
    answered RPC has its server span, but only when a server known to export was pointed at the receiver.
    Older spans are dropped: they belong to no later test."""
    receiver = receivers.running()
    if receiver is None or not client:
        return []
    wanted = rpc_parents_needing_server(client)
    if not wanted:
        return []
    first = min(s.start_ns for s in client)
    last = max(s.end_ns for s in client)
    trace_ids = {t for t, _ in wanted}

    def relevant(span: SpanRecord) -> bool:
        return span.trace_id in trace_ids or (span.parent_id is None and first <= span.start_ns <= last)

    def complete(spans: list[SpanRecord]) -> bool:
        found = wholes(client, [s for s in spans if relevant(s)])
        return all(w.server_ns is not None for w in found if (w.trace_id, w.span_id) in wanted)

    if receivers.expecting_server_spans():
        receiver.wait_for(complete, max(0.0, wait_s - (time.time_ns() - last) / 1e9))
    found = receiver.spans(relevant)
    receiver.forget(trace_ids, before_ns=last)
    return found


def analyse_test(spans: Sequence[ReadableSpan]) -> dict[str, dict[str, Any]]:
    """:func:`.analysis.analyse` of a test's finished client spans, joined with the server's spans."""
    client = from_readables(spans)
    return analyse(client, server_spans_for(client))
