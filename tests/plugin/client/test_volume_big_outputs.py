"""Big outputs with no fault: byte-exact in both modes, no self-inflicted loss, bounded client memory.

The client keeps every event that reached it: in event-stream mode it stops reading the socket while its
consumer is behind (TCP pushes back, and both servers then hold the process's output), and in legacy-read
mode it fills what the server's 1 MiB retention evicted, while it read through the notifications ahead of
a ``process/read`` response, from the pushed events it kept. ``flow.peak`` is what the client held
undelivered at most (client/flow.py); it must stay far below the output size.

500 MB runs are in tests/benchmarks/test_client_modes_bench.py (``./run bench -k 500MB``).
"""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import AsyncIterator

import pytest

from pytest_execserver.checks.history import History
from pytest_execserver.client import RecoveryError, transport
from pytest_execserver.client.flow import EVENT_OVERHEAD, HIGH_WATER
from pytest_execserver.servers.launch import ServerProcess
from pytest_execserver.waiting import wait_until
from tests.plugin.client.client_testkit import Forwarder, MakeClient

SIZE = 50_000_000
MAX_FRAME_COST = 8192 + EVENT_OVERHEAD  # one notification: both servers send chunks of at most 8 KiB
LEGACY_HELD_LIMIT = 32 * 1024 * 1024  # HIGH_WATER + what a server queues ahead of a read response (<= 19 MiB seen)


def yes_bytes(n: int) -> list[str]:
    return ["/bin/sh", "-c", f"head -c {n} /dev/zero | tr '\\0' y"]


def assert_all_y(stdout: bytes, n: int) -> None:
    assert len(stdout) == n, f"got {len(stdout)} of {n} bytes"
    assert stdout.count(b"y") == n, "output is not byte-exact"


@pytest.mark.parametrize("mode", ["event-stream", "legacy-read"])
async def test_50mb_output_is_byte_exact_without_self_inflicted_loss(
    make_client: MakeClient, server: ServerProcess, history: History, mode: str
) -> None:
    client = await make_client(mode=mode)
    result = await client.run(yes_bytes(SIZE), cwd=server.scratch, timeout=120)
    assert_all_y(result.stdout, SIZE)
    assert result.exit_code == 0
    delivered = [e.seq for e in history.select("deliver:*")]
    assert delivered == list(range(1, len(delivered) + 1))  # every seq exactly once, in order
    reasons = {e.data.get("reason") for e in history.select("recover", "ok")}
    if mode == "event-stream":
        assert not reasons, f"event-stream needed read-backs with no fault: {reasons}"
        assert client.flow.peak <= HIGH_WATER + MAX_FRAME_COST
    else:
        assert reasons <= {"evicted"}
        assert client.flow.peak <= LEGACY_HELD_LIMIT
    assert client.flow.held == 0  # nothing left counted once the process closed


PER_CHUNK_BYTES = 2048  # what the client keeps per delivered chunk besides its bytes: objects, two history events


@pytest.mark.parametrize("mode", ["event-stream", "legacy-read"])
async def test_client_memory_beyond_the_output_it_keeps_is_bounded(
    make_client: MakeClient, server: ServerProcess, mode: str
) -> None:
    """tracemalloc while 20 MB stream through: the output (kept once, as chunks) + per-chunk bookkeeping +
    what flow control lets the client hold undelivered."""
    client = await make_client(mode=mode)
    size = 20_000_000
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        handle = await client.start(yes_bytes(size), cwd=server.scratch)
        async for _chunk in handle:
            pass
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    chunks = len(handle.chunks)
    limit = size + chunks * PER_CHUNK_BYTES + (HIGH_WATER if mode == "event-stream" else LEGACY_HELD_LIMIT)
    print(f"{mode}: peak {peak / 2**20:.1f} MiB for {size / 2**20:.1f} MiB in {chunks} chunks "
          f"(held undelivered at most {client.flow.peak / 2**20:.2f} MiB)")
    assert peak <= limit, f"client memory {peak / 2**20:.1f} MiB > bound {limit / 2**20:.1f} MiB"


async def test_stalled_consumer_stops_reading_instead_of_dropping(
    make_client: MakeClient, server: ServerProcess, history: History
) -> None:
    """The consumer stalls 600 ms: the client pauses the socket (bounded memory) and loses nothing."""
    client = await make_client()
    client.pause_consumer(600)
    started = time.monotonic()
    result = await client.run(yes_bytes(SIZE // 5), cwd=server.scratch, timeout=60)
    assert time.monotonic() - started >= 0.5
    assert_all_y(result.stdout, SIZE // 5)
    assert client.flow.pauses >= 1, "the client never stopped reading although its consumer stalled"
    assert client.flow.peak <= HIGH_WATER + MAX_FRAME_COST
    assert not history.select("recover"), "a stalled consumer must not cost a read-back"


async def test_lossy_queue_limit_still_drops_as_the_receiver_lag_fault_asks(
    make_client: MakeClient, server: ServerProcess
) -> None:
    """The old behaviour, kept only for the fault: a 4-event queue, a stall, and output past the retention."""
    client = await make_client(queue_limit=4)
    client.pause_consumer(700)
    with pytest.raises(RecoveryError, match="no longer retained"):
        await client.run(yes_bytes(3_000_000), cwd=server.scratch, timeout=30)


async def test_a_poll_only_reader_loses_a_fast_producers_output(
    make_client: MakeClient, server: ServerProcess, history: History
) -> None:
    """Why legacy-read keeps pushed events: without them (a lossy limit of 1), polling alone loses output on
    both servers, because reaching a read's response frees the server's notification queue (more than the
    1 MiB retention) for the producer. The client reports it; it never returns a short result."""
    client = await make_client(mode="legacy-read", queue_limit=1)
    with pytest.raises(RecoveryError, match="no longer retained"):
        await client.run(yes_bytes(SIZE), cwd=server.scratch, timeout=120)
    assert history.select("process", "fail")


@pytest.fixture
def quick_keepalive(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(transport, "PING_INTERVAL_S", 0.2)
    monkeypatch.setattr(transport, "PING_TIMEOUT_S", 0.4)


@pytest.fixture
async def forwarder(server: ServerProcess) -> AsyncIterator[Forwarder]:
    fwd = await Forwarder.start(server.url)
    yield fwd
    await fwd.stop()


@pytest.mark.usefixtures("quick_keepalive")
async def test_a_pause_longer_than_the_ping_timeout_does_not_cut_the_connection(
    make_client: MakeClient, server: ServerProcess, history: History
) -> None:
    """Pongs cannot be read while the client holds its reader; the keepalive must not call that a dead peer."""
    client = await make_client()
    client.pause_consumer(2000)  # five ping timeouts
    result = await client.run(yes_bytes(SIZE // 5), cwd=server.scratch, timeout=60)
    assert_all_y(result.stdout, SIZE // 5)
    assert client.reconnects == 0 and not history.select("reconnect")


@pytest.mark.usefixtures("quick_keepalive")
async def test_keepalive_still_detects_a_silent_peer(make_client: MakeClient, forwarder: Forwarder) -> None:
    """The other side of the check above: pings that vanish (no pause of ours) do cut the connection."""
    client = await make_client(forwarder.url, recovery_deadline_s=30)
    forwarder.blackhole = True  # our pings never reach the server
    await wait_until(lambda: client.history.select("reconnect", "invoke"), timeout=5)
    forwarder.blackhole = False
    reasons = [e.data.get("reason", "") for e in client.history.select("reconnect", "invoke")]
    assert "keepalive ping timeout" in reasons[0]
