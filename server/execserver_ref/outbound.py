"""A connection's bounded outgoing frame queue (responses and notifications share it, in order)."""

from __future__ import annotations

import asyncio
from collections import deque

DEFAULT_CAPACITY = 256  # codex: NOTIFICATION_CHANNEL_CAPACITY


class Outbound:
    """FIFO of encoded frames. ``put`` waits while full (backpressure); ``close`` releases every waiter."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self.capacity = capacity
        self._frames: deque[str] = deque()
        self._space: list[asyncio.Future[None]] = []
        self._ready: asyncio.Future[None] | None = None
        self.closed = False

    def __len__(self) -> int:
        return len(self._frames)

    async def put(self, frame: str) -> None:
        while len(self._frames) >= self.capacity and not self.closed:
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._space.append(waiter)
            await waiter
        if self.closed:
            return
        self._frames.append(frame)
        ready = self._ready
        if ready is not None and not ready.done():
            ready.set_result(None)

    def put_nowait(self, frame: str) -> None:
        """Enqueue ignoring capacity (responses must never be lost)."""
        if self.closed:
            return
        self._frames.append(frame)
        ready = self._ready
        if ready is not None and not ready.done():
            ready.set_result(None)

    async def get_batch(self) -> list[str]:
        """Every queued frame (at least one), or ``[]`` once closed."""
        while not self._frames:
            if self.closed:
                return []
            self._ready = asyncio.get_running_loop().create_future()
            await self._ready
            self._ready = None
        frames = list(self._frames)
        self._frames.clear()
        self._release()
        return frames

    def _release(self) -> None:
        waiters, self._space = self._space, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def close(self) -> None:
        self.closed = True
        self._frames.clear()
        self._release()
        ready = self._ready
        if ready is not None and not ready.done():
            ready.set_result(None)
