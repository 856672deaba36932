from __future__ import annotations

import time

import pytest

from pytest_execserver.waiting import ConditionTimeout, wait_until, wait_until_sync


def test_wait_until_sync_returns_once_true_and_names_what_timed_out() -> None:
    start = time.monotonic()
    wait_until_sync(lambda: time.monotonic() - start > 0.02, timeout=5)
    with pytest.raises(ConditionTimeout, match="the flag"):
        wait_until_sync(lambda: False, timeout=0.05, what="the flag")


async def test_wait_until_accepts_async_predicates() -> None:
    calls = []

    async def ready() -> bool:
        calls.append(1)
        return len(calls) >= 3

    await wait_until(ready, timeout=5)
    assert len(calls) == 3
    with pytest.raises(ConditionTimeout):
        await wait_until(lambda: False, timeout=0.05)
