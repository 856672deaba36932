"""Helpers for the client tests: the client-factory type and a cuttable TCP forwarder (toxiproxy stand-in)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from pytest_execserver.client import ExecClient

MakeClient = Callable[..., Coroutine[Any, Any, ExecClient]]


@dataclass
class _Pair:
    client: asyncio.StreamWriter
    upstream: asyncio.StreamWriter
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


class Forwarder:
    """Forwards every accepted connection to ``target``; :meth:`cut` aborts them all."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.pairs: list[_Pair] = []
        self.accepted = 0
        self.blackhole = False  # drop client->server bytes while set
        self.dropped = 0  # client->server bytes dropped by the blackhole
        self._server: asyncio.Server | None = None
        self.port = 0

    @classmethod
    async def start(cls, url: str) -> Forwarder:
        host, port = url.removeprefix("ws://").rsplit(":", 1)
        forwarder = cls(host, int(port))
        forwarder._server = await asyncio.start_server(forwarder._accept, "127.0.0.1", 0)
        forwarder.port = forwarder._server.sockets[0].getsockname()[1]
        return forwarder

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        pair = _Pair(writer, up_writer)
        pair.tasks = [
            asyncio.create_task(self._pipe(reader, up_writer, upstream=True)),
            asyncio.create_task(self._pipe(up_reader, writer, upstream=False)),
        ]
        self.pairs.append(pair)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, upstream: bool) -> None:
        try:
            while data := await reader.read(65536):
                if upstream and self.blackhole:
                    self.dropped += len(data)
                    continue
                writer.write(data)
                await writer.drain()
        except asyncio.CancelledError:
            return  # cut(keep_upstream=True): leave the other side open
        except (OSError, asyncio.IncompleteReadError):
            pass
        writer.transport.abort()

    def cut(self, *, keep_upstream: bool = False) -> None:
        """Abort every current connection (client side; the server side too unless ``keep_upstream``)."""
        for pair in self.pairs:
            if keep_upstream:
                pair.tasks[1].cancel()
                pair.tasks[0].cancel()
            else:
                pair.upstream.transport.abort()
            pair.client.transport.abort()
        if not keep_upstream:
            self.pairs.clear()

    def cut_upstream(self) -> None:
        for pair in self.pairs:
            pair.upstream.transport.abort()
        self.pairs.clear()

    async def stop(self) -> None:
        """Stop listening and cut everything: the server looks gone."""
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 1)
            self._server = None
        self.cut()
