"""A seq gap is a loss only when it persists: out-of-order arrival (as codex does across streams) must not
cost a read-back, while a real hole is still recovered or reported. Runs against the reference server's
injected bugs, which make the wire misbehave in exactly one named way."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from pytest_execserver.checks.history import History
from pytest_execserver.client import RecoveryError, connect
from pytest_execserver.servers.launch import ServerProcess

# Separate stdout writes, far enough apart to be separate chunks (and so separate notifications).
PACED = ["/bin/sh", "-c", "for i in 1 2 3 4; do echo line-$i; sleep 0.05; done"]
EXPECTED = b"".join(b"line-%d\n" % i for i in range(1, 5))


def _recover_reasons(history: History) -> list[str]:
    return [str(e.data.get("reason")) for e in history.select("recover", "invoke")]


async def test_swapped_notifications_are_reordered_without_a_read_back(
    launch_server: Callable[..., ServerProcess],
) -> None:
    server = launch_server("ref", "--inject-bug", "reorder")
    history = History()
    async with connect(server.url, mode="event-stream", history=history) as client:
        result = await client.run(PACED, timeout=10)
    assert result.stdout == EXPECTED
    swapped = [e.seq for e in history.select("wire:process/output")][:2]
    assert swapped == [2, 1], "the injected bug should have swapped the first two notifications"
    assert "gap" not in _recover_reasons(history)


async def test_a_real_hole_is_read_back_and_reported(launch_server: Callable[..., ServerProcess]) -> None:
    server = launch_server("ref", "--inject-bug", "drop-chunk")
    history = History()
    async with connect(server.url, mode="event-stream", history=history) as client:
        with pytest.raises(RecoveryError):
            await client.run(PACED, timeout=10)
    assert "gap" in _recover_reasons(history)
