"""Dropped transports: reconnect + resume recovers output; a gone server fails fast with TransportError."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from pytest_execserver.checks.history import History
from pytest_execserver.client import StartOutcomeUnknown, TransportError
from pytest_execserver.servers.launch import ServerProcess
from pytest_execserver.waiting import wait_until
from tests.plugin.client.client_testkit import Forwarder, MakeClient

TICKS = "i=0; while [ $i -lt 30 ]; do echo tick-$i; i=$((i+1)); sleep 0.03; done; exit 5"
EXPECTED = b"".join(b"tick-%d\n" % i for i in range(30))


@pytest.fixture
async def forwarder(server: ServerProcess) -> AsyncIterator[Forwarder]:
    fwd = await Forwarder.start(server.url)
    yield fwd
    await fwd.stop()


@pytest.mark.parametrize("mode", ["event-stream", "legacy-read"])
async def test_cut_connection_reconnects_and_recovers_output(
    make_client: MakeClient, forwarder: Forwarder, history: History, mode: str
) -> None:
    client = await make_client(forwarder.url, mode=mode, recovery_deadline_s=5)
    session = client.session_id
    handle = await client.start(["/bin/sh", "-c", TICKS])
    await wait_until(lambda: len(handle.chunks) >= 3, 5, "some output before the cut")
    forwarder.cut()
    cut_at = time.monotonic_ns()
    result = await handle.wait(10)
    assert result.stdout == EXPECTED
    assert result.exit_code == 5
    assert client.session_id == session and client.reconnects == 1
    ok = history.select("reconnect", "ok")
    assert len(ok) == 1 and forwarder.accepted == 2
    print(f"reconnect recovery took {(ok[0].time_ns - cut_at) / 1e6:.1f} ms ({mode})")
    delivered = [e.seq for e in history.select("deliver:*")]
    assert delivered == list(range(1, len(delivered) + 1))
    # and the resumed connection is fully usable
    again = await client.run(["/bin/echo", "after"], timeout=5)
    assert again.stdout == b"after\n"


async def test_iterator_survives_reconnect(make_client: MakeClient, forwarder: Forwarder) -> None:
    client = await make_client(forwarder.url, recovery_deadline_s=5)
    handle = await client.start(["/bin/sh", "-c", TICKS])
    data = bytearray()
    async for chunk in handle:
        data += chunk.data
        if data.count(b"\n") == 5:
            forwarder.cut()
    assert bytes(data) == EXPECTED


# "two" is printed while the client is cut off, then the process stays silent for 2 s: nothing pushed after
# the reconnect wakes the consumer, so only the reconnect itself can trigger the read-back of "two".
QUIET_AFTER_CUT = "echo one; sleep 0.3; echo two; : > two.sent; sleep 2; echo three"


async def test_reconnect_reads_back_at_once(
    make_client: MakeClient, forwarder: Forwarder, history: History, server: ServerProcess
) -> None:
    """Event-stream recovery after a reconnect starts right away, not after the consumer's idle probe (5 s)."""
    client = await make_client(forwarder.url, mode="event-stream", recovery_deadline_s=5)
    handle = await client.start(["/bin/sh", "-c", QUIET_AFTER_CUT], cwd=server.scratch)
    async for chunk in handle:
        assert chunk.data == b"one\n"
        break
    forwarder.cut(keep_upstream=True)  # the server keeps the old connection: resume refused (-32010) ...
    await wait_until(lambda: (server.scratch / "two.sent").exists() and _refused(history), 5,
                     "'two' printed and a resume refused")  # fmt: skip
    forwarder.cut_upstream()  # ... until it lets go, by which time "two" went to the dead connection
    result = await handle.wait(10)
    assert result.stdout == b"one\ntwo\nthree\n"
    (reconnected,) = history.select("reconnect", "ok")
    recover = [e for e in history.select("recover", "invoke") if e.data.get("reason") == "reconnect"]
    assert recover, "no read-back with reason 'reconnect'"
    delay_ms = (recover[0].time_ns - reconnected.time_ns) / 1e6
    assert 0 <= delay_ms < 1000, f"read-back started {delay_ms:.0f} ms after the reconnect"
    two = next(e for e in history.select("deliver:output") if e.data["chunk"] == b"two\n")
    assert (two.time_ns - reconnected.time_ns) / 1e6 < 1000, "output missed during the cut was delivered late"


async def test_silent_resume_attempt_is_retried(
    make_client: MakeClient, forwarder: Forwarder, history: History
) -> None:
    """A reconnect whose connection goes silent mid-handshake costs one attempt, not the whole deadline."""
    client = await make_client(forwarder.url, recovery_deadline_s=6, request_timeout_s=30)
    handle = await client.start(["/bin/sh", "-c", TICKS])
    await wait_until(lambda: len(handle.chunks) >= 2, 5, "some output before the cut")
    forwarder.blackhole = True  # the next connection's upgrade request is swallowed: it hangs, silently
    forwarder.cut()
    await wait_until(lambda: forwarder.accepted >= 2 and forwarder.dropped > 0, 5, "an upgrade request swallowed")
    forwarder.blackhole = False
    result = await handle.wait(10)
    assert result.stdout == EXPECTED
    (ok,) = history.select("reconnect", "ok")
    assert ok.data["attempts"] >= 2
    assert ok.data["elapsed_ms"] < 4000, "the silent attempt was not abandoned early"


async def test_session_attached_is_retried(make_client: MakeClient, forwarder: Forwarder, history: History) -> None:
    """Client side cut while the server still holds the old connection: -32010 until it lets go."""
    client = await make_client(forwarder.url, recovery_deadline_s=5)
    handle = await client.start(["/bin/sh", "-c", TICKS])
    await wait_until(lambda: len(handle.chunks) >= 2, 5, "some output before the cut")
    forwarder.cut(keep_upstream=True)
    await wait_until(lambda: _refused(history), 5, "a resume refused with -32010")
    forwarder.cut_upstream()
    result = await handle.wait(10)
    assert result.stdout == EXPECTED
    codes = [e.data.get("code") for e in history.select("initialize", "fail")]
    assert -32010 in codes
    assert len(history.select("reconnect", "ok")) == 1


async def test_server_gone_raises_transport_error_within_deadline(
    make_client: MakeClient, forwarder: Forwarder, history: History
) -> None:
    client = await make_client(forwarder.url, recovery_deadline_s=1.0)
    handle = await client.start(["/bin/sleep", "30"])
    iterated = asyncio.create_task(_drain(handle))
    started = time.monotonic()
    await forwarder.stop()
    with pytest.raises(TransportError):
        await handle.wait(5)
    elapsed = time.monotonic() - started
    assert elapsed < 2.5
    with pytest.raises(TransportError):
        await asyncio.wait_for(iterated, 1)
    with pytest.raises(TransportError):
        await client.call("process/read", {"processId": handle.process_id})
    assert history.select("transport_error")
    assert history.select("reconnect", "fail")


async def test_pending_call_fails_when_server_gone(make_client: MakeClient, forwarder: Forwarder) -> None:
    client = await make_client(forwarder.url, mode="legacy-read", recovery_deadline_s=0.8)
    handle = await client.start(["/bin/sleep", "30"])
    call = asyncio.create_task(
        client.call("process/read", {"processId": handle.process_id, "afterSeq": 0, "waitMs": 5000})
    )
    await wait_until(lambda: client.history.select("rpc:process/read", "invoke"), 5, "the long-poll read sent")
    started = time.monotonic()
    await forwarder.stop()
    with pytest.raises(TransportError):
        await asyncio.wait_for(call, 3)
    assert time.monotonic() - started < 2.0


async def test_start_in_flight_is_not_resent(make_client: MakeClient, forwarder: Forwarder, history: History) -> None:
    client = await make_client(forwarder.url, recovery_deadline_s=5)
    forwarder.blackhole = True
    start = asyncio.create_task(client.start(["/bin/echo", "never"]))
    await wait_until(lambda: history.select("rpc:process/start", "invoke") and forwarder.dropped > 0, 5,
                     "process/start sent into the blackhole")  # fmt: skip
    forwarder.blackhole = False
    forwarder.cut()
    with pytest.raises(StartOutcomeUnknown):
        await asyncio.wait_for(start, 5)
    assert len(history.select("rpc:process/start", "invoke")) == 1
    ok = await client.run(["/bin/echo", "fine"], timeout=5)  # the session itself recovered
    assert ok.stdout == b"fine\n"


def _refused(history: History) -> bool:
    return any(e.data.get("code") == -32010 for e in history.select("initialize", "fail"))


async def _drain(handle: object) -> bytes:
    out = b""
    async for chunk in handle:  # type: ignore[attr-defined]
        out += chunk.data
    return out
