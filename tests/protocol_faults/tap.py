"""A byte recorder for tests: a plain TCP relay that keeps every byte it passes, in each direction."""

from __future__ import annotations

import asyncio
import contextlib


class Tap:
    """``127.0.0.1:port`` relaying to ``upstream``; ``up``/``down`` hold all bytes sent to/from the server."""

    def __init__(self, host: str, port: int) -> None:
        self.upstream = (host, port)
        self.up = bytearray()
        self.down = bytearray()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"ws://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    async def start(self) -> Tap:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        return self

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
            with contextlib.suppress(BaseException):
                await task

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        pumps = [asyncio.ensure_future(self._copy(reader, up_writer, self.up)),
                 asyncio.ensure_future(self._copy(up_reader, writer, self.down))]  # fmt: skip
        self._tasks.update(pumps)
        await asyncio.gather(*pumps, return_exceptions=True)
        for w in (writer, up_writer):
            w.close()

    @staticmethod
    async def _copy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, record: bytearray) -> None:
        try:
            while data := await reader.read(65536):
                record += data
                writer.write(data)
                await writer.drain()
            if writer.can_write_eof():
                writer.write_eof()
        except OSError:
            writer.transport.abort()
