"""Process events and their reassembly into one gap-free, duplicate-free sequence (pure logic).

Every process has one sequence space shared by ``process/output``, ``process/exited`` and
``process/closed`` (e.g. output 1..n, exited n+1, closed n+2; output may follow exited). Events may
arrive twice (live notification and read-back), out of order (after recovery) or not at all (queue
overflow, dropped transport). :class:`Reassembler` releases them exactly once, in seq order.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pytest_execserver.client.errors import RecoveryError


@dataclass(frozen=True)
class OutputChunk:
    """One chunk of process output: ``stream`` is ``stdout``, ``stderr`` or ``pty``."""

    seq: int
    stream: str
    data: bytes


@dataclass(frozen=True)
class Exited:
    """The process exited (its output may not be drained yet)."""

    seq: int
    exit_code: int
    sandbox_denied: bool | None


@dataclass(frozen=True)
class Closed:
    """The process exited and all its output was delivered."""

    seq: int


Event = OutputChunk | Exited | Closed


@dataclass(frozen=True)
class ReadResult:
    """A parsed ``process/read`` response."""

    chunks: list[OutputChunk]
    next_seq: int
    exited: bool
    exit_code: int | None
    closed: bool
    failure: str | None
    sandbox_denied: bool | None


def parse_notification(method: str, params: dict[str, Any]) -> Event | None:
    """The event carried by a ``process/*`` notification, or None for other methods."""
    seq = int(params["seq"])
    if method == "process/output":
        return OutputChunk(seq, str(params.get("stream", "stdout")), base64.b64decode(params.get("chunk", "")))
    if method == "process/exited":
        denied = params.get("sandboxDenied")
        return Exited(seq, int(params["exitCode"]), None if denied is None else bool(denied))
    if method == "process/closed":
        return Closed(seq)
    return None


def parse_read(result: dict[str, Any]) -> ReadResult:
    """Parse a ``process/read`` result."""
    chunks = [
        OutputChunk(int(c["seq"]), str(c.get("stream", "stdout")), base64.b64decode(c.get("chunk", "")))
        for c in result.get("chunks") or []
    ]
    denied = result.get("sandboxDenied")
    code = result.get("exitCode")
    return ReadResult(
        chunks=sorted(chunks, key=lambda c: c.seq),
        next_seq=int(result.get("nextSeq", 0)),
        exited=bool(result.get("exited")),
        exit_code=None if code is None else int(code),
        closed=bool(result.get("closed")),
        failure=result.get("failure"),
        sandbox_denied=None if denied is None else bool(denied),
    )


class Reassembler:
    """Holds out-of-order events and releases them in seq order, each exactly once."""

    def __init__(self) -> None:
        self.last_seq = 0  # highest seq released
        self.pending: dict[int, Event] = {}
        self.exit_released = False
        self.closed_released = False
        self.filled = 0  # events taken from a read's ``fallback`` (seqs the read no longer had)

    @property
    def exit_known(self) -> bool:
        return self.exit_released or any(isinstance(e, Exited) for e in self.pending.values())

    def offer(self, event: Event) -> bool:
        """Accept an event unless it is a duplicate (already released or pending); True if new."""
        if event.seq <= self.last_seq or event.seq in self.pending or self.closed_released:
            return False
        self.pending[event.seq] = event
        return True

    def pop_ready(self) -> list[Event]:
        """Release the contiguous run of events after ``last_seq``."""
        out: list[Event] = []
        while (event := self.pending.pop(self.last_seq + 1, None)) is not None:
            self.last_seq = event.seq
            out.append(event)
            if isinstance(event, Exited):
                self.exit_released = True
            elif isinstance(event, Closed):
                self.closed_released = True
                self.pending.clear()
                break
        return out

    def has_gap(self) -> bool:
        """Events are pending but the next one in sequence is missing."""
        return bool(self.pending) and (self.last_seq + 1) not in self.pending

    def apply_read(self, read: ReadResult, fallback: Mapping[int, Event] | None = None) -> bool:
        """Merge a read-back; returns True when another immediate read is needed (partial response).

        ``fallback`` holds events received otherwise (pushed); they fill only seqs the read does not have.
        Raises :class:`RecoveryError` when events between ``last_seq`` and the response's end are
        no longer retained by the server (nor in ``fallback``), or the response is inconsistent: never
        silently skip bytes.
        """
        if read.failure:
            raise RecoveryError(f"process failed: {read.failure}")
        target = read.next_seq - 1
        if read.sandbox_denied:
            # a pending Exited that said False learns a read's True (OR-ed, as the Codex client does); one that
            # said nothing keeps saying nothing: the result learns it from the read (ProcessHandle)
            for seq, event in list(self.pending.items()):
                if isinstance(event, Exited) and seq <= target and event.sandbox_denied is False:
                    self.pending[seq] = Exited(seq, event.exit_code, True)
        for chunk in read.chunks:
            if chunk.seq > target:
                raise RecoveryError(f"read returned seq {chunk.seq} beyond nextSeq {read.next_seq}")
            self.offer(chunk)
        if self.closed_released or target <= self.last_seq:
            return False
        target_is_output = isinstance(self.pending.get(target), OutputChunk)
        closed_placed = False
        if read.closed and not target_is_output:
            self.offer(Closed(target))
            closed_placed = True
        missing = [s for s in range(self.last_seq + 1, target + 1) if s not in self.pending]
        if fallback and missing:
            for seq in missing:
                if (kept := fallback.get(seq)) is not None and self.offer(kept):
                    self.filled += 1
            missing = [s for s in missing if s not in self.pending]
        if read.exited and not self.exit_known and len(missing) == 1:
            if read.exit_code is None:
                raise RecoveryError("read reports the process exited but carries no exit code")
            self.offer(Exited(missing[0], read.exit_code, read.sandbox_denied))
            missing = []
        if missing:
            raise RecoveryError(
                f"process events {missing[0]}..{missing[-1]} are no longer retained by the server "
                f"(recovering after seq {self.last_seq} through {target})"
            )
        return (read.closed and not closed_placed) or (read.exited and not self.exit_known)
