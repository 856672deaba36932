"""Where the time went in one test (sans-I/O): coverage of each whole, its sub-phases, and each RPC split.

A *whole* is a client span with ``execserver.whole`` and ``execserver.wall_ns`` (see :mod:`.phases`); its
direct child spans are the named sub-phases. Per whole:

- ``covered``: the union of its sub-phases, clipped to the whole's span; ``unexplained = wall - covered``,
  where ``wall`` was measured independently (``perf_counter_ns``). Coverage below 100% is work nobody named.
- for an RPC, the server's span for it (the server continues the W3C trace: its span's parent is the
  client's RPC span) splits the ``wait`` sub-phase into ``server`` and ``network`` (what neither side
  explains: the wire, both kernels, the server's own queueing before and after its span). ``local`` is
  the other named client sub-phases. ``local + network + server`` is the covered time, so it adds up to
  the measured wall time exactly when coverage is 100%.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pytest_execserver.telemetry.names import SUBPHASE_ATTR, SUBPHASES, WALL_ATTR, WHOLE_ATTR
from pytest_execserver.telemetry.spans import SpanRecord

KINDS = ("connect", "rpc", "process")
MAX_SAMPLES = 1000  # per kind and test, so a volume test cannot blow up the JSON report


@dataclass
class Whole:
    """One measured whole and what its sub-phases explain (times in ns)."""

    kind: str
    trace_id: str
    span_id: str
    wall_ns: int
    covered_ns: int
    sub_ns: dict[str, int] = field(default_factory=dict)
    method: str | None = None
    server_ns: int | None = None
    joined_by: str | None = None  # "trace" (the server's span continues ours) or "time" (see wholes)
    wait_window: tuple[int, int] | None = None

    @property
    def unexplained_ns(self) -> int:
        return max(0, self.wall_ns - self.covered_ns)

    @property
    def local_ns(self) -> int:
        return sum(v for k, v in self.sub_ns.items() if k != "wait")

    @property
    def network_ns(self) -> int | None:
        if self.server_ns is None:
            return None
        return max(0, self.sub_ns.get("wait", 0) - self.server_ns)

    def sample(self) -> dict[str, Any]:
        """The JSON sample (ms)."""
        out: dict[str, Any] = {
            "wall": _ms(self.wall_ns),
            "covered": _ms(self.covered_ns),
            "sub": {k: _ms(v) for k, v in self.sub_ns.items()},
        }
        if self.method is not None:
            out["method"] = self.method
            out["local"] = _ms(self.local_ns)
            out["server"] = None if self.server_ns is None else _ms(self.server_ns)
            out["network"] = None if self.network_ns is None else _ms(self.network_ns)
            out["joined_by"] = self.joined_by
        return out


def _ms(ns: int) -> float:
    return round(ns / 1e6, 4)


def union_ns(intervals: Iterable[tuple[int, int]]) -> int:
    """Total length of the union of ``[start, end)`` intervals."""
    total, cur_start, cur_end = 0, None, None
    for start, end in sorted(intervals):
        if end <= start:
            continue
        if cur_end is None or start > cur_end:
            if cur_end is not None and cur_start is not None:
                total += cur_end - cur_start
            cur_start, cur_end = start, end
        else:
            cur_end = max(cur_end, end)
    if cur_end is not None and cur_start is not None:
        total += cur_end - cur_start
    return total


def wholes(client: Sequence[SpanRecord], server: Sequence[SpanRecord] = ()) -> list[Whole]:
    """Every whole among ``client``'s spans, with its sub-phases and (for RPCs) its server span.

    The server span of an RPC is the one whose parent is the RPC's span (same trace). A server that does
    not continue the request's trace context (codex 0.169.0 starts a new trace per request) is joined by
    time instead: a root server span for the same method lying inside the RPC's wait, each used once."""
    children: dict[str, list[SpanRecord]] = defaultdict(list)
    for span in client:
        if span.parent_id is not None:
            children[span.parent_id].append(span)
    server_by_parent: dict[tuple[str, str], int] = {}
    for span in server:
        if span.parent_id is not None:
            key = (span.trace_id, span.parent_id)
            server_by_parent[key] = max(server_by_parent.get(key, 0), span.duration_ns)
    out: list[Whole] = []
    for span in client:
        kind = span.attributes.get(WHOLE_ATTR)
        wall = span.attributes.get(WALL_ATTR)
        if kind not in KINDS or not isinstance(wall, int):
            continue
        clipped: list[tuple[str, int, int]] = []
        wait_window: tuple[int, int] | None = None
        for child in children.get(span.span_id, []):
            start, end = max(child.start_ns, span.start_ns), min(child.end_ns, span.end_ns)
            if end > start:
                clipped.append((str(child.attributes.get(SUBPHASE_ATTR, child.name)), start, end))
            if child.attributes.get(SUBPHASE_ATTR) == "wait":
                wait_window = (child.start_ns, child.end_ns)
        sub: dict[str, int] = {}
        for name, start, end in clipped:
            sub[name] = sub.get(name, 0) + end - start
        whole = Whole(str(kind), span.trace_id, span.span_id, wall,
                      min(wall, union_ns((s, e) for _, s, e in clipped)), sub, wait_window=wait_window)  # fmt: skip
        if kind == "rpc":
            whole.method = str(span.attributes.get("rpc.method", span.name.rsplit(" ", 1)[-1]))
            server_ns = server_by_parent.get((span.trace_id, span.span_id))
            if server_ns is not None and "wait" in sub:
                whole.server_ns = min(server_ns, sub["wait"])
                whole.joined_by = "trace"
        out.append(whole)
    _join_by_time(out, server)
    return out


def _span_method(span: SpanRecord) -> str:
    return str(span.attributes.get("rpc.method") or span.attributes.get("method") or span.name)


def _join_by_time(found: list[Whole], server: Sequence[SpanRecord]) -> None:
    """Join the RPCs left without a server span to root server spans of the same method: the one that
    overlaps the RPC's wait the most (each used once); the server time is that overlap."""
    roots = [s for s in server if s.parent_id is None]
    used: set[str] = set()
    for whole in sorted(found, key=lambda w: w.wait_window or (0, 0)):
        if whole.kind != "rpc" or whole.joined_by is not None or whole.wait_window is None:
            continue
        lo, hi = whole.wait_window
        best, best_overlap = None, 0
        for span in roots:
            if span.span_id in used or _span_method(span) != whole.method:
                continue
            overlap = min(hi, span.end_ns) - max(lo, span.start_ns)
            if overlap > best_overlap:
                best, best_overlap = span, overlap
        if best is not None:
            used.add(best.span_id)
            whole.server_ns = min(best_overlap, whole.sub_ns.get("wait", 0))
            whole.joined_by = "time"


def rpc_parents_needing_server(client: Sequence[SpanRecord]) -> set[tuple[str, str]]:
    """``(trace_id, span_id)`` of the RPC wholes that got a response (so the server saw them)."""
    return {
        (s.trace_id, s.span_id) for s in client
        if s.attributes.get(WHOLE_ATTR) == "rpc" and not s.error
    }  # fmt: skip


def analyse(client: Sequence[SpanRecord], server: Sequence[SpanRecord] = ()) -> dict[str, dict[str, Any]]:
    """Per kind: ``measured_ms`` (independent wall time), ``covered_ms`` (named sub-phases), ``samples``."""
    out: dict[str, dict[str, Any]] = {}
    for whole in wholes(client, server):
        entry = out.setdefault(whole.kind, {"measured_ms": 0.0, "covered_ms": 0.0, "samples": []})
        entry["measured_ms"] += whole.wall_ns / 1e6
        entry["covered_ms"] += whole.covered_ns / 1e6
        if len(entry["samples"]) < MAX_SAMPLES:
            entry["samples"].append(whole.sample())
    return out


def subphase_order(kind: str, names: Iterable[str]) -> list[str]:
    """Sub-phase names in their natural order (unknown names last, sorted)."""
    known = SUBPHASES.get(kind, ())
    names = set(names)
    return [n for n in known if n in names] + sorted(names - set(known))
