"""Wait for a condition, never for a fixed time: the one polling helper every test and fixture uses."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable


class ConditionTimeout(AssertionError):
    """The awaited condition did not become true in time; the message says which and how long."""


def timeout_scale() -> float:
    """The one environment factor that scales test timeouts (``EXECSERVER_BUDGET_SCALE``, default 1)."""
    try:
        return max(1.0, float(os.environ.get("EXECSERVER_BUDGET_SCALE", "1")))
    except ValueError:
        return 1.0


def wait_until_sync(predicate: Callable[[], object], timeout: float, what: str = "condition",
                    interval: float = 0.005) -> None:
    """Poll ``predicate`` until it is truthy; raise :class:`ConditionTimeout` after ``timeout`` s (scaled)."""
    deadline = time.monotonic() + timeout * timeout_scale()
    while not predicate():
        if time.monotonic() >= deadline:
            raise ConditionTimeout(f"{what} not reached within {timeout * timeout_scale():.1f} s")
        time.sleep(interval)


async def wait_until(predicate: Callable[[], object | Awaitable[object]], timeout: float,
                     what: str = "condition", interval: float = 0.005) -> None:
    """Async twin of :func:`wait_until_sync`; ``predicate`` may be a plain or an async callable."""
    deadline = time.monotonic() + timeout * timeout_scale()
    while True:
        value = predicate()
        if isinstance(value, Awaitable):
            value = await value
        if value:
            return
        if time.monotonic() >= deadline:
            raise ConditionTimeout(f"{what} not reached within {timeout * timeout_scale():.1f} s")
        await asyncio.sleep(interval)
