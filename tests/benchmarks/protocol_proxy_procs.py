"""Processes for the protocol proxy benchmark, each printing its port: ``echo``, ``relay PORT``, ``proxy PORT
[armed]``. Separate processes, so the measuring client does not share a GIL with what it measures."""

from __future__ import annotations

import asyncio
import sys


class _Relay(asyncio.Protocol):
    """The least an asyncio hop can do: bytes in, the same bytes out (the floor for any Python proxy)."""

    def __init__(self, peer: _Relay | None = None) -> None:
        self.peer = peer
        self.transport: asyncio.Transport | None = None
        self.pending: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.get_extra_info("socket").setsockopt(6, 1, 1)  # TCP_NODELAY

    def data_received(self, data: bytes) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.write(data)
        else:
            self.pending.append(data)


async def _relay(upstream_port: int) -> asyncio.Server:
    loop = asyncio.get_running_loop()

    class Front(_Relay):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            super().connection_made(transport)
            self.connecting = loop.create_task(self.connect())

        async def connect(self) -> None:
            _, back = await loop.create_connection(lambda: _Relay(self), "127.0.0.1", upstream_port)
            self.peer = back
            for data in self.pending:
                back.transport.write(data)  # type: ignore[union-attr]

    return await loop.create_server(Front, "127.0.0.1", 0)


async def _main(argv: list[str]) -> None:
    if argv[0] == "echo":
        from websockets.asyncio.server import ServerConnection, serve

        async def echo(ws: ServerConnection) -> None:
            async for message in ws:
                await ws.send(message)

        server = await serve(echo, "127.0.0.1", 0, compression=None)
        port = server.sockets[0].getsockname()[1]
    elif argv[0] == "relay":
        port = (await _relay(int(argv[1]))).sockets[0].getsockname()[1]
    else:
        from pytest_execserver.faults.protocol import ProtocolProxy, make_fault

        faults = [make_fault("drop", on="never/sent")] if argv[2:] == ["armed"] else []
        port = (await ProtocolProxy(f"127.0.0.1:{argv[1]}", faults).start()).address[1]
    print(port, flush=True)
    await asyncio.Future()


if __name__ == "__main__":
    asyncio.run(_main(sys.argv[1:]))
