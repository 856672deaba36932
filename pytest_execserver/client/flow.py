"""Receive-side flow control (pure logic, no I/O): when the client should stop reading its socket.

The client never drops an event that reached it (unless a ``receiver_lag`` fault set a lossy
``queue_limit``). Instead it bounds what it holds undelivered -- notifications queued for a consumer,
events held behind a seq gap, pushed events kept for a legacy reader -- and stops reading the websocket
while that exceeds :data:`HIGH_WATER` bytes, until it is back under :data:`LOW_WATER`. The kernel's receive
buffer then fills, TCP closes its window, and the server's notification queue pushes back on the process
(both codex 0.169.0 and the reference server hold a process's output while its client does not read:
docs/protocol.md, "Slow readers").

One exception keeps this deadlock-free: while a ``process/read`` of the client's own (a read-back or a
legacy long-poll) awaits its response, reading continues, because that response sits behind the
notifications in the same TCP stream. What is held then grows by at most what the server had queued
before the response (its notification queue and socket buffers: a few MiB).
"""

from __future__ import annotations

from dataclasses import dataclass

EVENT_OVERHEAD = 256
"""Bytes charged per held event on top of its payload (Python objects, history record)."""
HIGH_WATER = 4 * 1024 * 1024
LOW_WATER = 1024 * 1024


def event_cost(payload_bytes: int) -> int:
    """What holding one event costs against the water marks."""
    return payload_bytes + EVENT_OVERHEAD


@dataclass
class FlowControl:
    """Counts held bytes and in-flight reads; :attr:`may_read` says whether to read the socket."""

    high: int = HIGH_WATER
    low: int = LOW_WATER
    held: int = 0
    reads_waiting: int = 0
    paused: bool = False
    pauses: int = 0  # how often reading stopped (observability)
    peak: int = 0

    def hold(self, cost: int) -> None:
        self.held += cost
        self.peak = max(self.peak, self.held)
        self._update()

    def release(self, cost: int) -> None:
        self.held = max(0, self.held - cost)
        self._update()

    def read_started(self) -> None:
        self.reads_waiting += 1
        self._update()

    def read_finished(self) -> None:
        self.reads_waiting = max(0, self.reads_waiting - 1)
        self._update()

    @property
    def may_read(self) -> bool:
        return self.reads_waiting > 0 or not self.paused

    def _update(self) -> None:
        if not self.paused and self.held >= self.high:
            self.paused = True
            self.pauses += 1
        elif self.paused and self.held <= self.low:
            self.paused = False
