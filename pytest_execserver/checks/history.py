"""The operation history every client records; invariant checks and latency budgets read it.

Modelled on Jepsen histories: each operation is an ``invoke`` followed by ``ok`` or ``fail`` (or ``info``
when the outcome is unknown, e.g. the transport dropped mid-call). Events the server pushes, and what the
client delivers to its user, are ``info`` events. Times are ``time.monotonic_ns()``.

Event ``op`` names (contract between the client and the checks):
- ``connect``, ``ws_handshake``, ``initialize``: connection phases (invoke, then ok/fail).
- ``rpc:<method>``: every JSON-RPC request (invoke/ok/fail), ``data`` has ``id`` and for fail ``code``.
- ``wire:process/output`` | ``wire:process/exited`` | ``wire:process/closed``: a notification as received
  on the wire (info), with ``process_id``, ``seq``, and for output ``stream`` and ``size``.
- ``deliver:output`` (info): a chunk handed to the user in order, with ``process_id``, ``seq``, ``stream``,
  ``chunk`` (the bytes, hex in JSON). ``deliver:exited`` (exit ``code``, ``sandbox_denied``) and
  ``deliver:closed`` likewise.
- ``process`` (invoke at ``process/start`` sent, ok at closed delivered, fail on error) and
  ``first_output`` (invoke at the same moment, ok at the first delivered output chunk), both keyed by
  ``process_id`` so :func:`durations_ms` pairs them.
- ``recover`` (invoke/ok/fail): a read-back; ``data`` has ``reason`` (``lag``: queue overflow, ``gap``: a
  seq hole, ``reconnect``: right after a resumed session, ``idle``: a silent stream's probe found more) and
  ``after_seq``.
- ``reconnect`` (invoke/ok/fail): transport re-established with ``resumeSessionId``.
- ``transport_error`` (info): a typed TransportError raised to waiters, ``data`` has ``message``.
- ``fault`` (info, client ``harness``): ``data`` has the fault's ``kind`` and params, and ``action``:
  ``apply``, ``remove``, or ``error`` (it could not be applied/removed; ``message`` says why).
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

EventKind = Literal["invoke", "ok", "fail", "info"]


@dataclass(frozen=True)
class HistoryEvent:
    """One entry of a history."""

    index: int
    kind: EventKind
    op: str
    client: str
    time_ns: int
    process_id: str | None = None
    seq: int | None = None
    data: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        data = {k: (v.hex() if isinstance(v, bytes) else v) for k, v in self.data.items()}
        return {
            "index": self.index,
            "kind": self.kind,
            "op": self.op,
            "client": self.client,
            "time_ns": self.time_ns,
            "process_id": self.process_id,
            "seq": self.seq,
            "data": data,
        }


class History:
    """An append-only, thread-safe list of :class:`HistoryEvent` shared by the clients of one test."""

    def __init__(self) -> None:
        self._events: list[HistoryEvent] = []
        self._counter = itertools.count()
        self._lock = threading.Lock()

    def record(
        self,
        kind: EventKind,
        op: str,
        client: str,
        /,
        *,
        process_id: str | None = None,
        seq: int | None = None,
        at_ns: int | None = None,
        **data: Any,
    ) -> HistoryEvent:
        """Append an event stamped with the monotonic clock (``at_ns``: when it happened, if earlier)."""
        with self._lock:
            stamp = time.monotonic_ns() if at_ns is None else at_ns
            event = HistoryEvent(next(self._counter), kind, op, client, stamp, process_id, seq, dict(data))
            self._events.append(event)
        return event

    @property
    def events(self) -> list[HistoryEvent]:
        with self._lock:
            return list(self._events)

    def __iter__(self) -> Iterator[HistoryEvent]:
        return iter(self.events)

    def __len__(self) -> int:
        return len(self._events)

    def select(self, op: str | None = None, kind: EventKind | None = None) -> list[HistoryEvent]:
        """Events matching ``op`` (exact, or a prefix ending in ``:``/``*``) and ``kind``."""
        return [e for e in self.events if _op_matches(e.op, op) and (kind is None or e.kind == kind)]

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(json.dumps(e.to_json()) for e in self.events) + "\n")


def _op_matches(actual: str, wanted: str | None) -> bool:
    if wanted is None:
        return True
    if wanted.endswith("*"):
        return actual.startswith(wanted[:-1])
    return actual == wanted


def durations_ms(events: Iterable[HistoryEvent], op: str) -> list[float]:
    """Durations of completed ``op`` operations: each ``ok`` paired with its client's pending ``invoke``.

    Pairing key is (client, process_id, data id) so concurrent operations pair correctly.
    """
    pending: dict[tuple[str, str | None, Any], int] = {}
    out: list[float] = []
    for event in events:
        if not _op_matches(event.op, op):
            continue
        key = (event.client, event.process_id, event.data.get("id"))
        if event.kind == "invoke":
            pending[key] = event.time_ns
        elif event.kind == "ok" and key in pending:
            out.append((event.time_ns - pending.pop(key)) / 1e6)
        elif event.kind == "fail":
            pending.pop(key, None)
    return out
