"""Hand-made histories for the engine tests (no I/O, explicit clock)."""

from __future__ import annotations

from typing import Any

from pytest_execserver.checks.history import EventKind, HistoryEvent


class H:
    """Builds a list of HistoryEvent with a fake clock (``tick`` ms per event unless ``at`` is given)."""

    def __init__(self, client: str = "c1") -> None:
        self.events: list[HistoryEvent] = []
        self.client = client
        self.t_ms = 0.0

    def add(self, kind: EventKind, op: str, /, *, pid: str | None = None, seq: int | None = None,
            at: float | None = None, client: str | None = None, **data: Any) -> H:
        self.t_ms = at if at is not None else self.t_ms + 1
        self.events.append(HistoryEvent(len(self.events), kind, op, client or self.client,
                                        int(self.t_ms * 1e6), pid, seq, data))
        return self

    def start(self, pid: str = "p1", **kw: Any) -> H:
        self.add("invoke", "rpc:process/start", id=len(self.events), **kw)
        self.add("ok", "rpc:process/start", id=len(self.events) - 1, **kw)
        return self.add("invoke", "process", pid=pid, **kw)

    def out(self, seq: int, chunk: bytes, pid: str = "p1", stream: str = "stdout", wire: bool = True,
            deliver: bool = True, **kw: Any) -> H:
        if wire:
            self.add("info", "wire:process/output", pid=pid, seq=seq, stream=stream, size=len(chunk), **kw)
        if deliver:
            self.add("info", "deliver:output", pid=pid, seq=seq, stream=stream, chunk=chunk, **kw)
        return self

    def exited(self, seq: int, pid: str = "p1", code: int = 0, wire: bool = True, deliver: bool = True,
               denied: Any = "absent", **kw: Any) -> H:
        extra = {} if denied == "absent" else {"sandbox_denied": denied}
        if wire:
            self.add("info", "wire:process/exited", pid=pid, seq=seq, code=code, **extra, **kw)
        if deliver:
            self.add("info", "deliver:exited", pid=pid, seq=seq, code=code,
                     sandbox_denied=None if denied == "absent" else denied, **kw)
        return self

    def closed(self, seq: int, pid: str = "p1", wire: bool = True, deliver: bool = True, **kw: Any) -> H:
        if wire:
            self.add("info", "wire:process/closed", pid=pid, seq=seq, **kw)
        if deliver:
            self.add("info", "deliver:closed", pid=pid, seq=seq, **kw)
        return self

    def done(self, pid: str = "p1", **data: Any) -> H:
        return self.add("ok", "process", pid=pid, **data)

    def failed(self, pid: str = "p1", **data: Any) -> H:
        return self.add("fail", "process", pid=pid, **data)


def clean_run(pid: str = "p1", chunks: tuple[bytes, ...] = (b"hel", b"lo\n")) -> H:
    h = H().start(pid)
    for i, c in enumerate(chunks, 1):
        h.out(i, c, pid)
    n = len(chunks)
    return h.exited(n + 1, pid).closed(n + 2, pid).done(pid)
