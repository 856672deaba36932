"""Bytes a client sends before the embedded proxy has dialled its upstream are forwarded, not dropped.

The proxy pauses the client from ``connection_made`` until the links exist, but CPython before the fix
of gh-103607 (Debian 12's /usr/bin/python3, 3.11.2) ignores a pause made there: the transport reads
anyway. Under it the embedded Toxiproxy lost most websocket handshakes of a session (the client speaks
first). Here the pause is made to fail the same way on any Python, and the upstream dial is held until
the client's bytes have been read, so they always arrive early.
"""

from __future__ import annotations

import asyncio
import io
import random
from typing import Any

import pytest
from pytoxiproxy.connection import Connection
from pytoxiproxy.log import Logger
from pytoxiproxy.proxy import Proxy


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(65536):
        writer.write(data)
        await writer.drain()
    writer.close()


@pytest.mark.parametrize("pause_works", [True, False], ids=["pause-honoured", "pause-ignored-like-3.11.2"])
async def test_bytes_sent_before_the_upstream_is_dialled_arrive(
    monkeypatch: pytest.MonkeyPatch, pause_works: bool
) -> None:
    loop = asyncio.get_running_loop()
    upstream = await asyncio.start_server(_echo, "127.0.0.1", 0)
    port = upstream.sockets[0].getsockname()[1]
    proxy = Proxy("early", "127.0.0.1:0", f"127.0.0.1:{port}", Logger(io.StringIO()), random.Random(1))
    if not pause_works:
        monkeypatch.setattr(Connection, "client_ready", lambda self: None)
    read_early = asyncio.Event()
    dial = loop.create_connection

    async def held_dial(*args: Any, **kwargs: Any) -> Any:
        if not pause_works and args[2:3] == (port,):  # the proxy's dial (not the test's own connect)
            await read_early.wait()  # the client's bytes were read before the links exist
        return await dial(*args, **kwargs)

    monkeypatch.setattr(loop, "create_connection", held_dial)
    await proxy.start()
    try:
        reader, writer = await asyncio.open_connection(*proxy.listen.rsplit(":", 1))
        writer.write(b"GET / HTTP/1.1\r\n\r\n")
        if not pause_works:
            async with asyncio.timeout(10):
                while not any(conn.client._early for conn in proxy.connections):
                    await asyncio.sleep(0.01)
            read_early.set()
        async with asyncio.timeout(10):
            assert await reader.readexactly(18) == b"GET / HTTP/1.1\r\n\r\n"
        writer.close()
    finally:
        await proxy.stop()
        upstream.close()
