"""One test's telemetry: its client spans joined with the servers' spans from the shared OTLP receiver."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan

from pytest_execserver.telemetry import receiver as receivers
from pytest_execserver.telemetry.analysis import analyse, rpc_parents_needing_server
from pytest_execserver.telemetry.spans import SpanRecord, from_readables

#: how long to wait for a server's last span batch (it flushes every SERVER_BSP_SCHEDULE_DELAY_MS)
SERVER_SPANS_WAIT_S = 1.0


def server_spans_for(client: Sequence[SpanRecord], wait_s: float = SERVER_SPANS_WAIT_S) -> list[SpanRecord]:
    """The servers' spans in ``client``'s traces, taken out of the shared receiver.

    Waits (at most ``wait_s``) for the server span of every answered RPC, but only when a server known to
    export was pointed at the receiver: codex, for one, does not export (see docs/DESIGN.md)."""
    receiver = receivers.running()
    if receiver is None:
        return []
    wanted = rpc_parents_needing_server(client)
    if not wanted:
        return []
    if receivers.expecting_server_spans():
        receiver.wait_for(lambda spans: wanted <= {(s.trace_id, s.parent_id or "") for s in spans}, wait_s)
    trace_ids = {t for t, _ in wanted}
    found = receiver.spans(lambda s: s.trace_id in trace_ids)
    receiver.forget(trace_ids)
    return found


def analyse_test(spans: Sequence[ReadableSpan]) -> dict[str, dict[str, Any]]:
    """:func:`.analysis.analyse` of a test's finished client spans, joined with the server's spans."""
    client = from_readables(spans)
    return analyse(client, server_spans_for(client))
