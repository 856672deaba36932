"""Invariant checks: pure functions from a history (see :mod:`pytest_execserver.checks.history`) to violations.

The protocol promises, per process, one ``seq`` counter over ``output``/``exited``/``closed``
notifications, contiguous from 1, with ``exited`` once and ``closed`` once and last (output may race with
``exited``). The checks:

``ordered_output``      every delivered seq exactly once, increasing, no gap (unless the process failed
                        with a typed error), ``closed`` delivered last and after ``exited``; on the wire (see
                        below) no repeated seq, increasing seq within each output stream, ``closed`` last.
``byte_exact``          delivered bytes equal what the test registered (``exec_history.expect_output``) and
                        what the process result carries (``process`` ok ``stdout``/``stderr``).
``recovery``            after a fault, every process completed or failed with a typed error, and every
                        reconnect attempt finished.
``transport_reported``  every invoke got an ok/fail/info (no unbounded wait), no process succeeded with
                        bytes missing, every transport error carries a message.
``sandbox_denial``      ``exited.sandboxDenied`` present on the wire -> the delivered result carries the same
                        value; absent -> ``None``.

A violation names the invariant, the process, the seq and what was expected.

Wire order (what the *server* must do, checked per process and per connection, since a reconnect may
legitimately replay): the client reassembles by seq and delivers in seq order, so the wire only has to be
reassemblable. Required: (1) no seq sent twice; (2) ``process/output`` seqs increase **within each stream**
(stdout, stderr, pty); (3) ``closed`` is last -- nothing for the process after it but a lower-seq
``exited``, and its seq is the highest; (4) a seq skipped on the wire is filled later on that connection or
delivered by a read-back. Allowed: output of *different* streams out of seq order relative to each other
(stderr seq n+1 before stdout seq n), ``exited`` before a lower-seq output, and ``exited`` after ``closed``
(its seq still lower). Why: ``codex exec-server`` 0.169.0 reads stdout and stderr in separate tasks that
share one seq counter, so a chunk can take its seq and then be overtaken on the way out by the other
stream's chunk, and ``exited`` races the output readers (docs/protocol.md §4).
Within one stream the order is kept, so a same-stream swap is still a server violation.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pytest_execserver.checks.history import History, HistoryEvent

INVARIANTS: tuple[str, ...] = (
    "ordered_output",
    "byte_exact",
    "recovery",
    "transport_reported",
    "sandbox_denial",
)

EXPECT_OP = "expect:output"
CLOSED_GRACE_MS = 1000.0  # exited delivered this long before the check without closed -> "lost closed"
PENDING_GRACE_MS = 1000.0  # an RPC pending this long at the check, unanswered -> "unbounded wait"
# ops whose invoke may legitimately stay open (a process without output has no first output)
_OPEN_ENDED = {"first_output", "process"}
_DELIVER = ("deliver:output", "deliver:exited", "deliver:closed")
_WIRE = ("wire:process/output", "wire:process/exited", "wire:process/closed")

Key = tuple[str, str]  # (client, process_id)


@dataclass(frozen=True)
class Violation:
    """One broken expectation: which invariant, which process and seq, and what was expected."""

    invariant: str
    message: str
    process_id: str | None = None
    seq: int | None = None
    client: str | None = None

    def __str__(self) -> str:
        return f"[{self.invariant}] {self.message}"

    def to_json(self) -> dict[str, Any]:
        return {
            "invariant": self.invariant,
            "message": self.message,
            "process_id": self.process_id,
            "seq": self.seq,
            "client": self.client,
        }


class ExecHistory(History):
    """The test's :class:`History`, plus a way for the test to say what output it expects."""

    def expect_output(
        self,
        process_id: str,
        stdout: bytes | None = None,
        stderr: bytes | None = None,
        *,
        client: str | None = None,
    ) -> None:
        """Register the exact bytes a process must deliver (checked by ``byte_exact`` after the test)."""
        for name, value in (("stdout", stdout), ("stderr", stderr)):
            if value is not None and not isinstance(value, bytes | bytearray):
                raise TypeError(f"expect_output({process_id!r}): {name} must be bytes, got {type(value)}")
        data: dict[str, Any] = {}
        if stdout is not None:
            data["stdout"] = bytes(stdout)
        if stderr is not None:
            data["stderr"] = bytes(stderr)
        if client is not None:
            data["for_client"] = client
        self.record("info", EXPECT_OP, "test", process_id=process_id, **data)


# ---------------------------------------------------------------------------------------------- helpers


class _View:
    """Indexes over one history, shared by the checks."""

    def __init__(self, events: Sequence[HistoryEvent], now_ns: int | None) -> None:
        self.events = list(events)
        self.t0 = self.events[0].time_ns if self.events else 0
        self.now_ns = now_ns if now_ns is not None else (self.events[-1].time_ns if self.events else 0)
        self.by_proc: dict[Key, list[HistoryEvent]] = defaultdict(list)
        self.process_ops: dict[Key, list[HistoryEvent]] = defaultdict(list)
        self.faults = [e for e in self.events if e.op == "fault"]
        for e in self.events:
            if e.process_id is None:
                continue
            key = (e.client, e.process_id)
            if e.op.startswith(("deliver:", "wire:")):
                self.by_proc[key].append(e)
            elif e.op == "process":
                self.process_ops[key].append(e)

    def rel(self, e: HistoryEvent | int) -> str:
        t = e.time_ns if isinstance(e, HistoryEvent) else e
        return f"+{(t - self.t0) / 1e6:.1f}ms"

    def outcome(self, key: Key) -> str | None:
        """``ok``/``fail`` of the process op for key, ``pending`` if started and unfinished, else None."""
        ops = self.process_ops.get(key)
        if not ops:
            return None
        for e in ops:
            if e.kind == "ok":
                return "ok"
            if e.kind in ("fail", "info"):  # info: ended by a transport error (outcome unknown, reported)
                return "fail"
        return "pending"

    def failure(self, key: Key) -> HistoryEvent | None:
        return next((e for e in self.process_ops.get(key, []) if e.kind in ("fail", "info")), None)

    def proc_keys(self) -> list[Key]:
        return sorted(set(self.by_proc) | set(self.process_ops))

    def delivered(self, key: Key, ops: Iterable[str] = _DELIVER) -> list[HistoryEvent]:
        wanted = tuple(ops)
        return [e for e in self.by_proc.get(key, []) if e.op in wanted]

    def wire(self, key: Key) -> list[HistoryEvent]:
        return [e for e in self.by_proc.get(key, []) if e.op in _WIRE]

    def terminal_seqs(self, key: Key) -> set[int]:
        """Seqs known to belong to exited/closed (from the wire or the delivered events)."""
        return {
            e.seq
            for e in self.by_proc.get(key, [])
            if e.seq is not None and e.op.endswith(("exited", "closed"))
        }


def fault_kind(ev: HistoryEvent) -> str:
    """The kind of a ``fault`` event (its ``kind`` data key)."""
    return str(ev.data.get("kind") or "?")


def _name(ev: HistoryEvent) -> str:
    return ev.op.split(":", 1)[1].removeprefix("process/")


def _fmt_bytes(data: bytes, limit: int = 60) -> str:
    text = repr(data[:limit])
    return text + (f"...(+{len(data) - limit} bytes)" if len(data) > limit else "")


def _typed(fail: HistoryEvent) -> bool:
    return any(k in fail.data for k in ("error", "code", "message", "type"))


# ------------------------------------------------------------------------------------------------ checks


def check_ordered_output(events: Sequence[HistoryEvent], now_ns: int | None = None) -> list[Violation]:
    """Every delivered seq once, increasing, without gaps; ``closed`` last; a well-behaved wire."""
    view = _View(events, now_ns)
    out: list[Violation] = []
    inv = "ordered_output"
    for key in view.proc_keys():
        client, pid = key
        who = f"process {pid!r}" + (f" (client {client})" if client else "")
        delivered = [e for e in view.delivered(key) if e.seq is not None]
        failed = view.outcome(key) == "fail"
        counts: dict[int, int] = defaultdict(int)
        for e in delivered:
            assert e.seq is not None
            counts[e.seq] += 1
        for seq, n in sorted(counts.items()):
            if n > 1:
                out.append(Violation(inv, f"{who}: seq {seq} delivered {n} times, expected exactly once",
                                     pid, seq, client))
        last: HistoryEvent | None = None
        for e in delivered:
            assert e.seq is not None
            if last is not None and last.seq is not None and e.seq < last.seq:
                out.append(Violation(
                    inv, f"{who}: seq {e.seq} ({_name(e)}) delivered after seq {last.seq}, expected "
                         f"increasing seq", pid, e.seq, client))
            if last is None or (last.seq is not None and e.seq > last.seq):
                last = e
        seen = set(counts)
        if seen and not failed:
            accounted = seen | view.terminal_seqs(key)
            for seq in range(1, max(seen) + 1):
                if seq not in accounted:
                    wire = [w for w in view.wire(key) if w.seq == seq]
                    what = f" ({_name(wire[0])} seen on the wire)" if wire else ""
                    out.append(Violation(
                        inv, f"{who}: seq {seq} never delivered{what} but later seqs were (gap before seq "
                             f"{min(s for s in seen if s > seq)}), expected contiguous seqs from 1 or a typed "
                             f"error", pid, seq, client))
        # closed: once, last, after exited
        all_delivered = view.delivered(key)
        closed = [e for e in all_delivered if e.op == "deliver:closed"]
        exited = [e for e in all_delivered if e.op == "deliver:exited"]
        if len(exited) > 1:
            out.append(Violation(inv, f"{who}: exited delivered {len(exited)} times, expected once",
                                 pid, exited[1].seq, client))
        if len(closed) > 1:
            out.append(Violation(inv, f"{who}: closed delivered {len(closed)} times, expected once",
                                 pid, closed[1].seq, client))
        if closed:
            first_closed = closed[0]
            after = [e for e in all_delivered if e.index > first_closed.index and e.op != "deliver:closed"]
            for e in after[:3]:
                out.append(Violation(
                    inv, f"{who}: {_name(e)} seq {e.seq} delivered after closed (seq {first_closed.seq}), "
                         f"expected closed last", pid, e.seq, client))
            if not exited and not failed:
                out.append(Violation(inv, f"{who}: closed (seq {first_closed.seq}) delivered without exited, "
                                          f"expected exited before closed", pid, first_closed.seq, client))
            elif exited and exited[0].index > first_closed.index:
                out.append(Violation(inv, f"{who}: exited delivered after closed, expected exited before closed",
                                     pid, exited[0].seq, client))
        elif exited and not failed:
            waited = (view.now_ns - exited[0].time_ns) / 1e6
            if waited >= CLOSED_GRACE_MS:
                out.append(Violation(
                    inv, f"{who}: exited (seq {exited[0].seq}) delivered at {view.rel(exited[0])} but closed "
                         f"never delivered ({waited:.0f} ms later) and no error reported, expected closed "
                         f"after exited", pid, exited[0].seq, client))
        if not _harness_altered_wire(view):
            out.extend(_check_wire(view, key, who))
    return out


# Protocol faults that change what reaches the client (faults/kinds.py, layer "protocol"): once one fired
# towards the client, the wire shows the harness's doing, not the server's, so the server-side wire rules
# are not checked (the delivered-side rules still are).
WIRE_ALTERING_KINDS = ("duplicate", "reorder", "inject", "corrupt")


def _harness_altered_wire(view: _View) -> bool:
    return any(f.data.get("action") == "apply" and f.data.get("direction") == "to_client"
               and fault_kind(f) in WIRE_ALTERING_KINDS for f in view.faults)


def _overtaken_exited(event: HistoryEvent, closed: HistoryEvent) -> bool:
    """An ``exited`` with a lower seq than ``closed`` that arrives after it: codex emits the exit from another
    task than the stream readers that end in ``closed`` (seen from codex 0.169.0 with no fault at all)."""
    return event.op == "wire:process/exited" and event.seq is not None and closed.seq is not None \
        and event.seq < closed.seq


def _check_wire(view: _View, key: Key, who: str) -> list[Violation]:
    """Server-side violations seen on the wire, per connection epoch (a reconnect starts a new one).

    See the module docstring for the rule: seq increases per output stream, not across streams.
    """
    client, pid = key
    inv = "ordered_output"
    out: list[Violation] = []
    epochs = sorted(e.time_ns for e in view.events if e.client == client and e.op == "reconnect"
                    and e.kind == "ok")
    by_epoch: dict[int, list[HistoryEvent]] = defaultdict(list)
    for e in view.wire(key):
        by_epoch[sum(1 for t in epochs if t <= e.time_ns)].append(e)
    delivered = {d.seq for d in view.delivered(key)}
    for wire in by_epoch.values():
        seen: dict[int, HistoryEvent] = {}
        stream_high: dict[str, HistoryEvent] = {}
        skipped: list[tuple[int, HistoryEvent]] = []
        high: HistoryEvent | None = None
        closed: HistoryEvent | None = None
        for e in wire:
            if e.seq is None:
                continue
            if closed is not None and not _overtaken_exited(e, closed):
                out.append(Violation(inv, f"{who}: server sent {_name(e)} seq {e.seq} after closed (seq "
                                          f"{closed.seq}) on the wire (server violation)", pid, e.seq, client))
            if e.seq in seen:
                out.append(Violation(inv, f"{who}: server sent seq {e.seq} twice on the wire (duplicate "
                                          f"{_name(e)}; server violation)", pid, e.seq, client))
            elif e.op == "wire:process/output":
                stream = str(e.data.get("stream") or "stdout")
                last = stream_high.get(stream)
                if last is not None and last.seq is not None and e.seq < last.seq:
                    out.append(Violation(inv, f"{who}: server sent {stream} seq {e.seq} after {stream} seq "
                                              f"{last.seq} on the wire (reordered within the {stream} stream; "
                                              f"server violation)", pid, e.seq, client))
                if last is None or (last.seq is not None and e.seq > last.seq):
                    stream_high[stream] = e
            if e.op == "wire:process/closed" and closed is None:
                closed = e
                if high is not None and high.seq is not None and e.seq < high.seq:
                    out.append(Violation(inv, f"{who}: server sent closed with seq {e.seq} but {_name(high)} "
                                              f"seq {high.seq} came before it on the wire, expected closed to "
                                              f"carry the highest seq (server violation)", pid, e.seq, client))
            if high is not None and high.seq is not None and e.seq > high.seq + 1:
                skipped.append((high.seq, e))
            seen.setdefault(e.seq, e)
            if high is None or (high.seq is not None and e.seq > high.seq):
                high = e
        # a hole the server never filled on this connection, and nobody delivered (a reorder fills it)
        for before, e in skipped:
            assert e.seq is not None
            missing = [s for s in range(before + 1, e.seq) if s not in seen and s not in delivered]
            if missing:
                out.append(Violation(
                    inv, f"{who}: server skipped seq {missing[0]}"
                         f"{f'..{missing[-1]}' if len(missing) > 1 else ''} on the wire (seq {e.seq} followed "
                         f"seq {before}) and it was never delivered (server violation)", pid, missing[0], client))
    return out


def _streams(events: Iterable[HistoryEvent]) -> dict[str, bytes]:
    out: dict[str, bytes] = defaultdict(bytes)
    for e in events:
        chunk = e.data.get("chunk", b"")
        if isinstance(chunk, str):
            chunk = bytes.fromhex(chunk)
        out[str(e.data.get("stream", "stdout"))] += bytes(chunk)
    return out


def _diff(expected: bytes, actual: bytes) -> str:
    at = next((i for i, (a, b) in enumerate(zip(expected, actual, strict=False)) if a != b),
              min(len(expected), len(actual)))
    return (f"first difference at byte {at} (expected {len(expected)} bytes {_fmt_bytes(expected)}, "
            f"got {len(actual)} bytes {_fmt_bytes(actual)})")


def check_byte_exact(events: Sequence[HistoryEvent], now_ns: int | None = None) -> list[Violation]:
    """Delivered bytes equal the registered expectations and the process result."""
    view = _View(events, now_ns)
    out: list[Violation] = []
    inv = "byte_exact"
    for exp in (e for e in view.events if e.op == EXPECT_OP):
        pid = exp.process_id
        wanted_client = exp.data.get("for_client")
        keys = [k for k in view.proc_keys() if k[1] == pid and (wanted_client is None or k[0] == wanted_client)]
        if any(view.outcome(k) == "fail" for k in keys):
            continue  # the truncation was reported as a typed error
        chunks = [e for k in keys for e in view.delivered(k, ["deliver:output"])]
        got = _streams(chunks)
        seqs = [e.seq for e in chunks if e.seq is not None]
        span = f"seq {min(seqs)}..{max(seqs)}" if seqs else "no seqs"
        for stream in ("stdout", "stderr"):
            if stream not in exp.data:
                continue
            want = exp.data[stream]
            if isinstance(want, str):
                want = bytes.fromhex(want)
            actual = got.get(stream, b"")
            if actual != want:
                out.append(Violation(
                    inv, f"process {pid!r}: delivered {stream} differs from the expected output: "
                         f"{_diff(want, actual)}; {len(chunks)} chunk(s) delivered, {span}",
                    pid, None, wanted_client))
    for key in view.proc_keys():
        client, pid = key
        ok = next((e for e in view.process_ops.get(key, []) if e.kind == "ok"), None)
        if ok is None:
            continue
        got = _streams(view.delivered(key, ["deliver:output"]))
        for stream in ("stdout", "stderr"):
            if stream not in ok.data or ok.data[stream] is None:
                continue
            result = ok.data[stream]
            if isinstance(result, str):
                result = bytes.fromhex(result)
            if bytes(result) != got.get(stream, b""):
                out.append(Violation(
                    inv, f"process {pid!r}: ProcessResult.{stream} is not the concatenation of the delivered "
                         f"chunks: {_diff(got.get(stream, b''), bytes(result))}", pid, None, client))
    return out


def _completion_key(e: HistoryEvent) -> tuple[str, str, str | None, Any]:
    return (e.client, e.op, e.process_id, e.data.get("id"))


def _pending(view: _View, ops: Callable[[str], bool]) -> list[HistoryEvent]:
    """Invokes (of ops matching) without a later ok/fail/info of the same key."""
    open_: dict[tuple[str, str, str | None, Any], list[HistoryEvent]] = defaultdict(list)
    for e in view.events:
        if not ops(e.op):
            continue
        key = _completion_key(e)
        if e.kind == "invoke":
            open_[key].append(e)
        elif open_[key]:
            open_[key].pop(0)
    return sorted((e for lst in open_.values() for e in lst), key=lambda e: e.index)


def check_recovery(events: Sequence[HistoryEvent], now_ns: int | None = None) -> list[Violation]:
    """After a fault: every process completed or failed typed; every reconnect attempt finished."""
    view = _View(events, now_ns)
    if not view.faults:
        return []
    inv = "recovery"
    first = view.faults[0]
    fault_desc = f"fault {fault_kind(first)!r} at {view.rel(first)}"
    out: list[Violation] = []
    for key in view.proc_keys():
        client, pid = key
        state = view.outcome(key)
        if state == "pending":
            delivered = [e.seq for e in view.delivered(key) if e.seq is not None]
            last = f"last delivered seq {max(delivered)}" if delivered else "nothing delivered"
            out.append(Violation(
                inv, f"process {pid!r} neither completed nor failed after {fault_desc} ({last}); expected "
                     f"completion or a typed error", pid, max(delivered) if delivered else None, client))
        elif state == "fail":
            fail = view.failure(key)
            if fail is not None and not _typed(fail):
                out.append(Violation(inv, f"process {pid!r} failed at {view.rel(fail)} after {fault_desc} "
                                          f"without a typed error (no error/code/message)", pid, None, client))
    for e in _pending(view, lambda op: op == "reconnect"):
        out.append(Violation(inv, f"client {e.client}: reconnect attempt at {view.rel(e)} after {fault_desc} "
                                  f"never finished (no ok/fail)", None, None, e.client))
    return out


def check_transport_reported(events: Sequence[HistoryEvent], now_ns: int | None = None) -> list[Violation]:
    """No unbounded waits, no success with missing bytes, every transport error has a message."""
    view = _View(events, now_ns)
    inv = "transport_reported"
    out: list[Violation] = []
    for e in _pending(view, lambda op: op not in _OPEN_ENDED and op not in ("fault", EXPECT_OP)
                      and not op.startswith(("wire:", "deliver:"))):
        if (view.now_ns - e.time_ns) / 1e6 < PENDING_GRACE_MS:
            continue  # still in flight (e.g. a long-poll read), not yet evidence of an unbounded wait
        ident = f" id={e.data['id']}" if "id" in e.data else ""
        out.append(Violation(inv, f"{e.op}{ident} (client {e.client}) invoked at {view.rel(e)} never got "
                                  f"ok/fail/info: unbounded wait", e.process_id, None, e.client))
    for key in view.proc_keys():
        client, pid = key
        state = view.outcome(key)
        if state == "pending" and not view.faults:
            started = view.process_ops[key][0]
            delivered_seqs = [e.seq for e in view.delivered(key) if e.seq is not None]
            got = [_name(e) for e in view.delivered(key) if not e.op.endswith("output")]
            last = (f"last delivered seq {max(delivered_seqs)}" if delivered_seqs else "nothing delivered") + (
                f", {' and '.join(got)} delivered" if got else ", no exited")
            out.append(Violation(
                inv, f"process {pid!r} started at {view.rel(started)} neither completed nor failed by the end "
                     f"of the test ({last}): unbounded wait (wait for or kill every process a test starts)",
                pid, max(delivered_seqs) if delivered_seqs else None, client))
        if state != "ok":
            continue
        delivered = {e.seq for e in view.delivered(key) if e.seq is not None}
        for w in view.wire(key):
            if w.op == "wire:process/output" and w.seq is not None and w.seq not in delivered:
                size = w.data.get("size")
                out.append(Violation(
                    inv, f"process {pid!r} reported success but output seq {w.seq}"
                         f"{f' ({size} bytes)' if size is not None else ''} seen on the wire was never "
                         f"delivered (silent truncation)", pid, w.seq, client))
    for e in view.events:
        if e.op == "transport_error" and not e.data.get("message"):
            out.append(Violation(inv, f"transport error at {view.rel(e)} (client {e.client}) carries no message",
                                 e.process_id, None, e.client))
    return out


def _denied(e: HistoryEvent) -> tuple[bool, Any]:
    for name in ("sandbox_denied", "sandboxDenied"):
        if e.data.get(name) is not None:
            return True, e.data[name]
    return False, None


def check_sandbox_denial(events: Sequence[HistoryEvent], now_ns: int | None = None) -> list[Violation]:
    """``exited.sandboxDenied`` on the wire is carried to the result; absent means ``None``."""
    view = _View(events, now_ns)
    inv = "sandbox_denial"
    out: list[Violation] = []
    for key in view.proc_keys():
        client, pid = key
        wire = [e for e in view.wire(key) if e.op == "wire:process/exited"]
        delivered = [e for e in view.delivered(key) if e.op == "deliver:exited"]
        ok = next((e for e in view.process_ops.get(key, []) if e.kind == "ok"), None)
        if not wire:
            continue
        present, expected = _denied(wire[0])
        expected = expected if present else None
        shown = f"sandboxDenied={expected!r} on the wire" if present else "no sandboxDenied on the wire"
        for e in [*delivered, *([ok] if ok is not None else [])]:
            has, value = _denied(e)
            if e is ok and not has:
                continue  # the result event need not repeat it
            if value != expected:
                where = "delivered exited" if e.op == "deliver:exited" else "process result"
                out.append(Violation(inv, f"process {pid!r}: {shown} (seq {wire[0].seq}) but the {where} says "
                                          f"sandbox_denied={value!r}, expected {expected!r}",
                                     pid, wire[0].seq, client))
    return out


def sandbox_denial_reports(events: Iterable[HistoryEvent]) -> dict[str, int]:
    """How each process's ``process/exited`` reported ``sandboxDenied`` on the wire: true, false or absent
    (an older server), counted once per process (the first exited event seen for it)."""
    counts = {"true": 0, "false": 0, "absent": 0}
    seen: set[tuple[str, str | None]] = set()
    for e in events:
        if e.op != "wire:process/exited" or (e.client, e.process_id) in seen:
            continue
        seen.add((e.client, e.process_id))
        present, value = _denied(e)
        counts["absent" if not present else "true" if value else "false"] += 1
    return counts


CHECKS: dict[str, Callable[[Sequence[HistoryEvent], int | None], list[Violation]]] = {
    "ordered_output": check_ordered_output,
    "byte_exact": check_byte_exact,
    "recovery": check_recovery,
    "transport_reported": check_transport_reported,
    "sandbox_denial": check_sandbox_denial,
}


def check_all(
    events: Sequence[HistoryEvent], now_ns: int | None = None, names: Iterable[str] | None = None
) -> dict[str, list[Violation]]:
    """Run the named checks (all by default); ``{name: violations}`` in :data:`INVARIANTS` order."""
    wanted = list(names) if names is not None else list(INVARIANTS)
    return {name: CHECKS[name](events, now_ns) for name in wanted}


def format_violations(results: dict[str, list[Violation]], limit: int = 20) -> str:
    lines = [str(v) for vs in results.values() for v in vs]
    more = len(lines) - limit
    return "\n".join(lines[:limit] + ([f"... and {more} more"] if more > 0 else []))
