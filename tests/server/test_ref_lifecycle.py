"""No orphans (TTL expiry, shutdown) and bounded memory under a flood of output."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import signal
import uuid
from pathlib import Path

import pytest
import websockets

from pytest_execserver.checks.journal import Journal
from pytest_execserver.servers.launch import ServerProcess
from pytest_execserver.waiting import ConditionTimeout, wait_until

from .procutil import pids_with, rss_kib, server_pid
from .refclient import Client, start_params


def _marker() -> str:
    # sleep accepts fractional seconds: a unique duration is a unique, greppable command line
    return f"7{int(uuid.uuid4().int % 10**8)}.{os.getpid()}"


async def _wait_gone(marker: str, timeout: float = 5.0) -> list[int]:
    with contextlib.suppress(ConditionTimeout):
        await wait_until(lambda: not pids_with(marker), timeout, f"every {marker} process gone")
    return pids_with(marker)


async def _start_sleepers(c: Client, scratch: Path, marker: str) -> None:
    # a leader, a backgrounded grandchild, and a PTY child
    shell = f"/bin/sleep {marker} & /bin/sleep {marker}"
    await c.call("process/start", start_params("grand", ["/bin/sh", "-c", shell], scratch))
    await c.call("process/start", start_params("pty", ["/bin/sleep", marker], scratch, tty=True))
    await c.call("process/start", start_params("pipe", ["/bin/sleep", marker], scratch, pipeStdin=True))
    # sh (its -c text has the marker), 2 sleeps, pty, pipe
    await wait_until(lambda: len(pids_with(marker)) == 5, 5, "five marked processes")


def _journal(server: ServerProcess) -> Journal:
    assert server.journal_path is not None
    return Journal.load(server.journal_path)


async def test_detached_session_ttl_kills_every_process(launch_server) -> None:  # type: ignore[no-untyped-def]
    server = launch_server("ref", "--session-ttl-ms", "300")
    marker = _marker()
    c = await Client.connect(server.url)
    sid = await c.init()
    await _start_sleepers(c, server.scratch, marker)
    await c.close()
    await wait_until(lambda: _journal(server).of_kind("conn_close"), 5, "the server saw the disconnect")
    assert len(pids_with(marker)) == 5  # detached: still running
    assert await _wait_gone(marker) == []
    assert server.is_running()
    again = await Client.connect(server.url)
    try:
        assert await again.error("initialize", {"clientName": "t", "resumeSessionId": sid}) == (
            -32600,
            f"unknown session id {sid}",
        )
    finally:
        await again.close()


async def test_resume_before_ttl_keeps_processes(launch_server) -> None:  # type: ignore[no-untyped-def]
    server = launch_server("ref", "--session-ttl-ms", "300")
    c = await Client.connect(server.url)
    sid = await c.init()
    await c.call("process/start", start_params("s", ["/bin/sleep", "30"], server.scratch))
    await c.close()
    c = await Client.connect(server.url)
    try:
        async def resumed() -> bool:
            return "result" in await c.request("initialize", {"clientName": "t", "resumeSessionId": sid})

        await wait_until(resumed, 5, "session resumed")
        await c.notify("initialized")
        # A clock made of the same TTL: a session detached *after* the resume expires (its process dies);
        # by then the resumed session's TTL would have fired too, had the resume not cancelled it.
        marker = _marker()
        clock = await Client.connect(server.url)
        await clock.init()
        await clock.call("process/start", start_params("k", ["/bin/sleep", marker], server.scratch))
        await clock.close()
        assert await _wait_gone(marker) == []
        read = await c.call("process/read", {"processId": "s"})
        assert read["exited"] is False
        assert await c.call("process/terminate", {"processId": "s"}) == {"running": True}
    finally:
        await c.close()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
async def test_shutdown_kills_every_process(launch_server, sig: signal.Signals) -> None:  # type: ignore[no-untyped-def]
    server = launch_server("ref")
    marker = _marker()
    attached = await Client.connect(server.url)
    await attached.init()
    await _start_sleepers(attached, server.scratch, marker)
    detached = await Client.connect(server.url)
    await detached.init()
    await detached.call("process/start", start_params("d", ["/bin/sleep", marker + "1"], server.scratch))
    await detached.close()
    pid = server_pid(server)
    os.kill(pid, sig)  # the server itself, not its group: it must clean up on its own
    await wait_until(lambda: not os.path.exists(f"/proc/{pid}"), 5, "the server exited")
    assert await _wait_gone(marker) == []
    assert server.popen.wait(timeout=5) == 0
    await attached.close()


async def test_bounded_memory_under_200mb_output(launch_server) -> None:  # type: ignore[no-untyped-def]
    server = launch_server("ref")
    pid = server_pid(server)
    async with websockets.connect(server.url, max_size=None) as ws:
        await ws.send(json.dumps({"id": 1, "method": "initialize", "params": {"clientName": "mem"}}))
        await ws.recv()
        await ws.send(json.dumps({"method": "initialized", "params": {}}))
        baseline = rss_kib(pid)
        argv = ["/bin/sh", "-c", "head -c 200000000 /dev/zero"]
        await ws.send(
            json.dumps({"id": 2, "method": "process/start", "params": start_params("flood", argv, server.scratch)})
        )
        peak = baseline
        total = 0
        seen = 0
        while True:
            message = await asyncio.wait_for(ws.recv(), 30)
            frame = json.loads(message)
            if frame.get("method") == "process/output":
                total += len(base64.b64decode(frame["params"]["chunk"]))
            seen += 1
            if seen % 2000 == 0:
                peak = max(peak, rss_kib(pid))
            if frame.get("method") == "process/closed":
                break
        peak = max(peak, rss_kib(pid))
        assert total == 200_000_000
        # retention cap (1 MiB) + outbound queue (256 x ~11 KiB) + constant; far below the 200 MB produced
        assert peak - baseline < 40_000, (baseline, peak)
        await ws.send(json.dumps({"id": 3, "method": "process/read", "params": {"processId": "flood"}}))
        read = json.loads(await asyncio.wait_for(ws.recv(), 10))["result"]
        assert sum(len(base64.b64decode(x["chunk"])) for x in read["chunks"]) <= 1024 * 1024


async def test_slow_reader_applies_backpressure(launch_server) -> None:  # type: ignore[no-untyped-def]
    """A client that stops reading must not make the server buffer the child's whole output."""
    server = launch_server("ref")
    pid = server_pid(server)
    c = await Client.connect(server.url)
    try:
        await c.init()
        baseline = rss_kib(pid)
        c._reader.cancel()  # stop reading the socket entirely
        await c.send(
            {
                "id": 1,
                "method": "process/start",
                "params": start_params("flood", ["/bin/sh", "-c", "head -c 300000000 /dev/zero"], server.scratch),
            }
        )
        # the server holds a full outbound queue (256 frames) and more: the client reads nothing
        await wait_until(lambda: _journal(server).of_kind("proc_output")[300:], 10, "300 chunks read")
        assert rss_kib(pid) - baseline < 40_000
        assert server.is_running()
    finally:
        await c.close()
