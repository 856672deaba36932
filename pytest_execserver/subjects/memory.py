"""What the client under test holds during a run, for the ``bounded_memory`` check.

Ours runs in the harness's process, so its resident memory would mix with the proxy's and the test's: it is
measured by what it says it holds undelivered (``FlowControl.peak``: queued notifications, events behind a
seq gap, pushed events kept for a reader). A client program (an adapter, codex) is measured from outside:
the peak resident set (``VmRSS``) of its process and its descendants, sampled while the run lasts.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

SAMPLE_S = 0.02
PROC = Path("/proc")


def _rss_bytes(pid: int) -> int:
    try:
        for line in (PROC / str(pid) / "status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _children(pid: int) -> list[int]:
    out: list[int] = []
    with contextlib.suppress(OSError):
        for task in (PROC / str(pid) / "task").iterdir():
            with contextlib.suppress(OSError, ValueError):
                out.extend(int(c) for c in (task / "children").read_text().split())
    return out


def tree_rss_bytes(pid: int) -> int:
    """Resident bytes of ``pid`` and all its descendants (0 once it is gone)."""
    total, todo, seen = 0, [pid], set()
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        total += _rss_bytes(current)
        todo.extend(_children(current))
    return total


class MemoryProbe:
    """Measures one run: :meth:`start` before it, ``await`` :meth:`stop` after it gives the peak in bytes
    (``what`` says what was measured), or None when nothing could be measured."""

    def __init__(self, subject: Any) -> None:
        self.subject = subject
        self.in_process = hasattr(subject, "pause_consumer") and hasattr(subject, "client")
        self.what = "bytes held undelivered" if self.in_process else "resident memory of the client's processes"
        self.peak: int | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self.in_process:
            client = getattr(self.subject, "client", None)
            flow = getattr(client, "flow", None)
            if flow is not None:
                flow.peak = flow.held  # the peak of this run only
            return
        self._task = asyncio.ensure_future(self._sample())

    async def stop(self) -> int | None:
        if self.in_process:
            flow = getattr(getattr(self.subject, "client", None), "flow", None)
            return None if flow is None else int(flow.peak)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task
        return self.peak

    async def _sample(self) -> None:
        while True:
            proc = getattr(self.subject, "proc", None)
            if proc is not None and getattr(proc, "returncode", None) is None:
                rss = tree_rss_bytes(int(proc.pid))
                if rss:
                    self.peak = max(self.peak or 0, rss)
            await asyncio.sleep(SAMPLE_S)
