"""One process's event stream on the client side (sans-I/O): admission of pushed events, seq reassembly,
gap detection with a grace period, and when to read back. Clock values come in as arguments; nothing here
awaits. ``ProcessHandle`` (process.py) and the mode loops (modes.py) are the I/O around it.

Admission: a pushed event is counted against the client's :class:`~pytest_execserver.client.flow.FlowControl`
from arrival until it is delivered (or found a duplicate), so the client stops reading its socket instead
of dropping. Only a lossy ``queue_limit`` (the ``receiver_lag`` fault) drops, and flags ``lag``: the
consumer then reads back. In legacy-read mode pushed events are only *kept* (:attr:`ProcessStream.spill`),
to fill seqs a ``process/read`` says the server's retention evicted.

Gaps: codex sends notifications of different streams out of seq order (docs/protocol.md), so a gap usually
closes with the next notification; it becomes a read-back (reason ``gap``) only if it persists for
:data:`GAP_GRACE_S`. After :data:`IDLE_PROBE_S` of silence the consumer checks by read-back that nothing
was lost.
"""

from __future__ import annotations

from collections.abc import Mapping

from pytest_execserver.client.events import Event, OutputChunk, ReadResult, Reassembler
from pytest_execserver.client.flow import FlowControl, event_cost

IDLE_PROBE_S = 5.0
GAP_GRACE_S = 0.05


class ProcessStream:
    """Reassembly, admission and recovery decisions for one process."""

    def __init__(self, flow: FlowControl, queue_limit: int = 0) -> None:
        self.flow = flow
        self.queue_limit = max(0, queue_limit)
        self.reassembler = Reassembler()
        self.spill: dict[int, Event] = {}
        self.recover_reason: str | None = None
        self.gap_deadline: float | None = None
        self._held: dict[int, int] = {}  # seq -> cost of an event received but not yet delivered

    # ------------------------------------------------------------------ admission

    def admit(self, event: Event, queued: int) -> bool:
        """A pushed event (event-stream mode) with ``queued`` events already waiting: True to queue it.

        False for a duplicate, and for an overflow of a lossy ``queue_limit`` (then ``recover_reason`` is
        ``lag``: it supersedes a pending reason such as ``gap``, as the read-back recovers both).
        """
        if not self._hold(event):
            return False
        if self.queue_limit and queued >= self.queue_limit:
            self._unhold(event.seq)
            self.recover_reason = "lag"
            return False
        return True

    def keep(self, event: Event) -> None:
        """A pushed event in legacy-read mode: kept only to fill output a read no longer has."""
        if not self._hold(event):
            return
        if self.queue_limit and len(self.spill) >= self.queue_limit:
            self._unhold(event.seq)  # a lossy limit (receiver_lag fault) applies to what a reader keeps too
            return
        self.spill[event.seq] = event

    def _hold(self, event: Event) -> bool:
        if event.seq <= self.reassembler.last_seq or event.seq in self._held or self.reassembler.closed_released:
            return False
        cost = event_cost(len(event.data) if isinstance(event, OutputChunk) else 0)
        self._held[event.seq] = cost
        self.flow.hold(cost)
        return True

    def _unhold(self, seq: int) -> None:
        cost = self._held.pop(seq, 0)
        if cost:
            self.flow.release(cost)

    @property
    def held(self) -> int:
        """Events received and not yet delivered."""
        return len(self._held)

    # ------------------------------------------------------------------ consumption

    def request_recovery(self, reason: str) -> None:
        """Ask for a read-back (a pending reason is kept)."""
        if self.recover_reason is None:
            self.recover_reason = reason

    def take_recovery(self) -> str | None:
        """The read-back to do now, if any (clears it and the gap timer: the read-back covers the gap)."""
        reason, self.recover_reason = self.recover_reason, None
        if reason is not None:
            self.gap_deadline = None
        return reason

    def wait_budget(self, now: float) -> float:
        """How long the consumer may wait for the next pushed event before :meth:`on_silence`."""
        return IDLE_PROBE_S if self.gap_deadline is None else max(0.0, self.gap_deadline - now)

    def on_silence(self) -> str:
        """Nothing arrived within :meth:`wait_budget`: ``"gap"`` (recovery requested) or ``"idle"`` (probe)."""
        if self.gap_deadline is not None:
            self.request_recovery("gap")
            return "gap"
        return "idle"

    def consume(self, event: Event, now: float) -> list[Event]:
        """A queued pushed event: the events now deliverable in seq order (then call :meth:`delivered`)."""
        ready = self.reassembler.pop_ready() if self.reassembler.offer(event) else []
        if not self.reassembler.has_gap():
            self.gap_deadline = None
        elif self.gap_deadline is None:
            self.gap_deadline = now + GAP_GRACE_S
        return ready

    def apply_read(self, read: ReadResult) -> tuple[bool, list[Event], int]:
        """Merge a ``process/read`` result: (another read needed, deliverable events, seqs filled from spill).

        Raises :class:`~pytest_execserver.client.errors.RecoveryError` when events are lost for good.
        """
        before = self.reassembler.filled
        fallback: Mapping[int, Event] = self.spill
        need_more = self.reassembler.apply_read(read, fallback=fallback)
        return need_more, self.reassembler.pop_ready(), self.reassembler.filled - before

    def delivered(self) -> None:
        """Stop counting (and keeping) events at or below the last delivered seq."""
        last = self.reassembler.last_seq
        for seq in [s for s in self._held if s <= last]:
            self.spill.pop(seq, None)
            self._unhold(seq)

    def release_all(self) -> None:
        """The process ended: nothing it held counts any more."""
        self.spill.clear()
        for seq in list(self._held):
            self._unhold(seq)
