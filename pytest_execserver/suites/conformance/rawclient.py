"""A raw JSON-RPC-over-websocket client for conformance tests.

Conformance is about the wire, so this client sends exactly the frames a test builds (including broken
ones) and records every frame the server sends, in arrival order. Every wait is bounded and raises
:class:`RawTimeout` with a description of what was awaited and what had arrived, so a misbehaving server
fails a test instead of hanging it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable, Mapping
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection

Frame = dict[str, Any]

DEFAULT_TIMEOUT_S = 5.0


class RawTimeout(AssertionError):
    """A bounded wait ran out; the message says what was awaited and what arrived instead."""


class RawClosed(AssertionError):
    """The server closed the connection while a frame was awaited."""


class RawClient:
    """One websocket connection with a background reader that records every received frame."""

    def __init__(self, ws: ClientConnection, url: str) -> None:
        self.ws = ws
        self.url = url
        self.frames: list[Frame] = []  # every parsed frame received, in order
        self.unparsed: list[str | bytes] = []  # frames that were not JSON objects
        self.sent: list[str] = []
        self.closed = False
        self.close_code: int | None = None
        self._next_id = 1
        self._cond = asyncio.Condition()
        self._reader = asyncio.create_task(self._read_loop())

    @classmethod
    async def connect(
        cls,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        origin: str | None = None,
        timeout: float = DEFAULT_TIMEOUT_S,
    ) -> RawClient:
        kwargs: dict[str, Any] = {"open_timeout": timeout, "close_timeout": 1, "max_size": 64 * 1024 * 1024}
        if headers:
            kwargs["additional_headers"] = dict(headers)
        if origin is not None:
            kwargs["origin"] = origin
        ws = await websockets.connect(url, **kwargs)
        return cls(ws, url)

    async def __aenter__(self) -> RawClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ---------------------------------------------------------------- reading

    async def _read_loop(self) -> None:
        try:
            async for message in self.ws:
                try:
                    frame = json.loads(message)
                except ValueError:
                    frame = None
                async with self._cond:
                    if isinstance(frame, dict):
                        self.frames.append(frame)
                    else:
                        self.unparsed.append(message)
                    self._cond.notify_all()
        except websockets.ConnectionClosed:
            pass
        finally:
            self.closed = True
            self.close_code = self.ws.close_code
            async with self._cond:
                self._cond.notify_all()

    async def wait_for(
        self,
        predicate: Callable[[Frame], bool],
        *,
        timeout: float = DEFAULT_TIMEOUT_S,
        what: str = "frame",
        start: int = 0,
    ) -> Frame:
        """The first received frame (at index >= ``start``) matching ``predicate``; bounded."""

        def find() -> Frame | None:
            for frame in self.frames[start:]:
                if predicate(frame):
                    return frame
            return None

        async def waiter() -> Frame | None:
            async with self._cond:
                while True:
                    found = find()
                    if found is not None or self.closed:
                        return found
                    await self._cond.wait()

        try:
            found = await asyncio.wait_for(waiter(), timeout)
        except TimeoutError:
            raise RawTimeout(f"no {what} within {timeout}s from {self.url}; last frames: {self._tail()}") from None
        if found is None:
            raise RawClosed(f"connection closed (code {self.close_code}) before {what}; frames: {self._tail()}")
        return found

    async def wait_closed(self, timeout: float = DEFAULT_TIMEOUT_S) -> int | None:
        """Wait until the server closes the connection; returns the close code."""
        try:
            await asyncio.wait_for(asyncio.shield(self._reader), timeout)
        except TimeoutError:
            raise RawTimeout(f"connection to {self.url} still open after {timeout}s") from None
        return self.close_code

    def _tail(self, n: int = 6) -> str:
        return json.dumps(self.frames[-n:])[-1500:]

    def notifications(self, method: str | None = None, process_id: str | None = None) -> list[Frame]:
        out = []
        for frame in self.frames:
            if "method" not in frame or "id" in frame:
                continue
            if method is not None and frame["method"] != method:
                continue
            if process_id is not None and (frame.get("params") or {}).get("processId") != process_id:
                continue
            out.append(frame)
        return out

    # ---------------------------------------------------------------- writing

    def new_id(self) -> int:
        rid = self._next_id
        self._next_id += 1
        return rid

    async def send_raw(self, text: str | bytes) -> None:
        self.sent.append(text if isinstance(text, str) else repr(text))
        await self.ws.send(text)

    async def send(self, frame: Mapping[str, Any]) -> None:
        await self.send_raw(json.dumps(frame))

    async def notify(self, method: str, params: Any = None, *, with_params: bool = True) -> None:
        frame: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if with_params:
            frame["params"] = {} if params is None else params
        await self.send(frame)

    async def request(
        self,
        method: str,
        params: Any = None,
        *,
        rid: Any = None,
        timeout: float = DEFAULT_TIMEOUT_S,
        with_params: bool = True,
    ) -> Frame:
        """Send a request and return the whole response frame (``result`` or ``error``)."""
        if rid is None:
            rid = self.new_id()
        frame: dict[str, Any] = {"jsonrpc": "2.0", "id": rid, "method": method}
        if with_params:
            frame["params"] = {} if params is None else params
        start = len(self.frames)
        await self.send(frame)
        return await self.response(rid, timeout=timeout, start=start, what=f"response to {method} (id {rid})")

    async def response(
        self, rid: Any, *, timeout: float = DEFAULT_TIMEOUT_S, start: int = 0, what: str | None = None
    ) -> Frame:
        return await self.wait_for(
            lambda f: "id" in f and "method" not in f and f["id"] == rid,
            timeout=timeout,
            what=what or f"response id {rid}",
            start=start,
        )

    async def call(self, method: str, params: Any = None, *, timeout: float = DEFAULT_TIMEOUT_S) -> Any:
        """``request`` that insists on success and returns ``result``."""
        frame = await self.request(method, params, timeout=timeout)
        if "error" in frame:
            raise AssertionError(f"{method} failed: {frame['error']}")
        return frame["result"]

    async def handshake(self, client_name: str = "conformance", **extra: Any) -> Frame:
        """``initialize`` + ``initialized``; returns the initialize response frame."""
        response = await self.request("initialize", {"clientName": client_name, **extra})
        if "result" in response:
            await self.notify("initialized")
        return response

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.ws.close(), 2)
        self._reader.cancel()
        with contextlib.suppress(BaseException):
            await self._reader
