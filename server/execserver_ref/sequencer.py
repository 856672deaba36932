"""Per-process event sequencing, without I/O: seq numbers, retention, the events to send, injected bugs.

One :class:`EventSequencer` per process. The output pumps and the exit watch (``process.py``) feed it what
happened (a chunk was read, the process exited, every stream reached EOF) and send the frames it returns,
in order. It owns the protocol rules:

* one seq counter per process, shared by ``process/output``, ``process/exited`` and ``process/closed``;
* ``exited`` once, ``closed`` once and last, and only after ``exited`` and the end of every stream;
* retention (what ``process/read`` returns) and the ``process/read`` result itself;
* every injected bug (``--inject-bug``): which frame is dropped, duplicated, held back or never sent.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from execserver_ref.bugs import NO_BUGS, Bugs
from execserver_ref.envelope import encode_notification
from execserver_ref.retention import Chunk, Retention


@dataclass(frozen=True)
class Step:
    """What one input produced: the seq it consumed (None if none) and the frames to send, in order."""

    seq: int | None
    frames: tuple[str, ...] = ()


class EventSequencer:
    """The protocol state of one process's event stream."""

    def __init__(
        self,
        process_id: str,
        *,
        retained_bytes: int,
        bugs: Bugs = NO_BUGS,
        omit_sandbox_denied: bool = False,
    ) -> None:
        self.process_id = process_id
        self.retention = Retention(retained_bytes)
        self.bugs = bugs
        self.omit_sandbox_denied = omit_sandbox_denied
        self.next_seq = 1
        self.exited = False  # as reported to clients (stall-exit hides it)
        self.exit_code: int | None = None  # as reported
        self.sandbox_denied = False
        self.closed = False
        self._outputs = 0
        self._held: str | None = None

    def _take_seq(self) -> int:
        seq = self.next_seq
        self.next_seq += 1
        return seq

    def _release_held(self) -> list[str]:
        held, self._held = self._held, None
        return [held] if held is not None else []

    # ------------------------------------------------------------------ inputs

    def output(self, stream: str, data: bytes, *, lose: bool = False) -> Step:
        """A chunk the process wrote. ``lose``: an injected loss decided outside (a resumed session's)."""
        seq = self._take_seq()
        self._outputs += 1
        n = self._outputs
        if (self.bugs.drop_chunk and n == 2) or lose:
            return Step(seq)  # lost for good: seq consumed, nothing retained or sent
        self.retention.append(Chunk(seq, stream, data))
        frame = encode_notification(
            "process/output",
            {"processId": self.process_id, "seq": seq, "stream": stream, "chunk": base64.b64encode(data).decode()},
        )
        if self.bugs.reorder and n == 1:
            self._held = frame  # sent after the next chunk (or before exited/closed)
            return Step(seq)
        frames = [frame]
        if self.bugs.duplicate_chunk and n == 1:
            frames.append(frame)
        frames += self._release_held()
        return Step(seq, tuple(frames))

    def exit(self, exit_code: int, sandbox_denied: bool = False) -> Step:
        """The process exited (call once). With stall-exit nothing is reported, ever."""
        self.sandbox_denied = sandbox_denied
        if self.bugs.stall_exit:
            return Step(None)
        frames = self._release_held()
        seq = self._take_seq()
        self.exited = True
        self.exit_code = exit_code
        params: dict[str, Any] = {"processId": self.process_id, "seq": seq, "exitCode": exit_code}
        if not self.omit_sandbox_denied:
            params["sandboxDenied"] = sandbox_denied
        frames.append(encode_notification("process/exited", params))
        return Step(seq, tuple(frames))

    def may_close(self, streams_open: bool) -> bool:
        """``closed`` is due: exited was reported, every stream ended, and it was not sent yet."""
        return self.exited and not streams_open and not self.closed

    def close(self) -> Step:
        """Every stream ended after the exit (call once :meth:`may_close` said so)."""
        assert self.exited and not self.closed
        self.closed = True
        frames = self._release_held()
        seq = self._take_seq()
        if not self.bugs.lose_closed:
            frames.append(encode_notification("process/closed", {"processId": self.process_id, "seq": seq}))
        return Step(seq, tuple(frames))

    # ------------------------------------------------------------------ queries

    def read(self, after_seq: int, max_bytes: int | None) -> tuple[dict[str, Any], bool]:
        """The ``process/read`` result and whether a long-poll may return now."""
        chunks = self.retention.select(after_seq, max_bytes)
        # codex: with maxBytes, last returned seq + 1 (if any chunk); without, the next unused seq
        next_seq = chunks[-1].seq + 1 if max_bytes is not None and chunks else self.next_seq
        exited = self.exited
        result = {
            "chunks": [{"seq": c.seq, "stream": c.stream, "chunk": base64.b64encode(c.data).decode()} for c in chunks],
            "nextSeq": next_seq,
            "exited": exited,
            "exitCode": self.exit_code if exited else None,
            "closed": self.closed,
            "failure": None,
            "sandboxDenied": self.sandbox_denied if exited else False,
        }
        ready = bool(chunks) or self.closed or (exited and after_seq < next_seq - 1)
        return result, ready
