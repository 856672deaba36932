"""With no fault the proxy is invisible: real client, real servers, bytes recorded on both sides of it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

import pytest
import websockets
from websockets.asyncio.server import serve

from pytest_execserver.checks.journal import Journal
from pytest_execserver.client import ExecClient
from pytest_execserver.faults.protocol import Fault, ProtocolProxy, make_fault
from pytest_execserver.servers.launch import ServerProcess
from pytest_execserver.waiting import wait_until

from .conftest import MakeClient
from .tap import Tap


async def _session(client: ExecClient, cwd: object) -> list[bytes]:
    outputs = []
    for argv in (["printf", "hello"], ["sh", "-c", "for i in 1 2 3; do echo line$i; done; echo err >&2; exit 3"]):
        result = await client.run(argv, cwd=cwd, timeout=30)  # type: ignore[arg-type]
        outputs.append(result.stdout + result.stderr + str(result.exit_code).encode())
    return outputs


@pytest.mark.usefixtures("quick_keepalive")  # our client pings every 0.2 s: pings and pongs cross the proxy too
@pytest.mark.parametrize("kind", ["ref", "codex"])
async def test_proxy_without_faults_passes_every_byte_both_ways(
    kind: str, launch_server: Callable[..., ServerProcess], make_client: MakeClient
) -> None:
    server = launch_server(kind)
    await _compare_both_sides(server, make_client, faults=[])


async def test_the_byte_comparison_sees_a_changed_byte(ref: ServerProcess, make_client: MakeClient) -> None:
    """The check above can fail: with one duplicated output message the two sides differ."""
    with pytest.raises(AssertionError, match=r"before\.down"):
        await _compare_both_sides(ref, make_client, faults=[make_fault("duplicate", on="process/output")])


async def _compare_both_sides(server: ServerProcess, make_client: MakeClient, faults: list[Fault]) -> None:
    host, port = server.url.removeprefix("ws://").split(":")
    behind = await Tap(host, int(port)).start()  # proxy -> server
    proxy = await ProtocolProxy(behind.url, faults).start()
    host, port = proxy.url.removeprefix("ws://").split(":")
    before = await Tap(host, int(port)).start()  # client -> proxy
    try:
        direct = await make_client(server.url)
        expected = await _session(direct, server.scratch)
        client = await make_client(before.url)
        assert await _session(client, server.scratch) == expected
        await asyncio.sleep(0.5)  # idle: a few keepalive pings and pongs
        await client.close()
        await wait_until(lambda: len(before.up) == len(behind.up), 5)
        assert bytes(before.up) == bytes(behind.up), "before.up != behind.up"
        assert bytes(before.down) == bytes(behind.down), "before.down != behind.down"
        assert b"\x89" in behind.up  # a ping went through (opcode byte of a final ping frame)
        assert proxy.events == []
    finally:
        await proxy.stop()
        await before.stop()
        await behind.stop()


async def test_close_codes_and_pings_pass(ref: ServerProcess) -> None:
    proxy = await ProtocolProxy(ref.url).start()
    try:
        async with websockets.connect(proxy.url, compression=None) as ws:
            await ws.send(json.dumps({"id": 1, "method": "initialize", "params": {"clientName": "t"}}))
            assert "result" in json.loads(await ws.recv())
            latency = await asyncio.wait_for(await ws.ping(b"are you there"), 5)
            assert latency >= 0
            await ws.close(4001, "custom goodbye")
        rcvd = ws.protocol.close_rcvd  # the server's echo of our close came back through the proxy
        assert rcvd is not None and (rcvd.code, rcvd.reason) == (4001, "custom goodbye")
        assert ref.journal_path is not None
        await wait_until(lambda: Journal.load(ref.journal_path).of_kind("conn_close"), 5)  # type: ignore[arg-type]
        assert [r["code"] for r in Journal.load(ref.journal_path).of_kind("conn_close")] == [4001]
    finally:
        await proxy.stop()


async def _echo(ws: websockets.asyncio.server.ServerConnection) -> None:
    async for message in ws:
        for n in range(3):
            await ws.send(
                json.dumps(
                    {"method": "process/output", "params": {"processId": "p", "seq": n, "echo": json.loads(message)}}
                )
            )


async def test_permessage_deflate_passes_and_a_drop_keeps_the_stream_readable() -> None:
    """websockets on both ends with compression negotiated (context takeover): with a drop armed, every
    later compressed message is re-framed uncompressed and the client reads all of them correctly."""
    async with serve(_echo, "127.0.0.1", 0, compression="deflate") as server:
        port = server.sockets[0].getsockname()[1]
        proxy = await ProtocolProxy(f"127.0.0.1:{port}", [make_fault("drop", on="process/output", nth=2)]).start()
        try:
            async with websockets.connect(proxy.url, compression="deflate") as ws:
                assert ws.response is not None
                assert "permessage-deflate" in ws.response.headers.get("Sec-WebSocket-Extensions", "")
                got = []
                for n in range(3):
                    await ws.send(json.dumps({"n": n, "pad": "abc" * 200}))
                    for _ in range(3 if n else 2):
                        got.append(json.loads(await ws.recv()))
            assert [(m["params"]["echo"]["n"], m["params"]["seq"]) for m in got] == [
                (0, 0), (0, 2), (1, 0), (1, 1), (1, 2), (2, 0), (2, 1), (2, 2)]  # fmt: skip
            assert [e.kind for e in proxy.events] == ["drop"]
        finally:
            await proxy.stop()


def test_proxy_thread_serves_synchronous_callers(ref: ServerProcess) -> None:
    """The thread-hosted proxy (for fixtures): a sync client through it, the events read from this thread."""
    from websockets.sync.client import connect as sync_connect

    from pytest_execserver.faults.protocol import ProxyThread

    with ProxyThread(ref.url, [make_fault("delay", on="initialize:response", ms=50)]) as proxy:
        with sync_connect(proxy.url, compression=None) as ws:
            ws.send(json.dumps({"id": 1, "method": "initialize", "params": {"clientName": "sync"}}))
            assert "sessionId" in json.loads(ws.recv(timeout=10))["result"]
        assert [(e.kind, e.message) for e in proxy.events] == [("delay", "response initialize id=1")]
