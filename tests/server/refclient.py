"""A small websocket JSON-RPC client for the reference server's tests (bounded waits, raw frames)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import websockets

Frame = dict[str, Any]
TIMEOUT = 5.0


class Client:
    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.frames: list[Frame] = []
        self.raw: list[str | bytes] = []
        self.closed = asyncio.Event()
        self._next = 0
        self._cond = asyncio.Condition()
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def connect(cls, url: str, **kwargs: Any) -> Client:
        ws = await websockets.connect(url, max_size=None, open_timeout=5, close_timeout=1, **kwargs)
        return cls(ws)

    async def _read(self) -> None:
        try:
            async for message in self.ws:
                self.raw.append(message)
                try:
                    frame = json.loads(message)
                except ValueError:
                    frame = {"unparsed": message}
                async with self._cond:
                    self.frames.append(frame)
                    self._cond.notify_all()
        except websockets.ConnectionClosed:
            pass
        finally:
            self.closed.set()
            async with self._cond:
                self._cond.notify_all()

    async def wait_for(self, pred: Callable[[Frame], bool], timeout: float = TIMEOUT) -> Frame:
        async def find() -> Frame:
            async with self._cond:
                while True:
                    for frame in self.frames:
                        if pred(frame):
                            return frame
                    if self.closed.is_set():
                        raise ConnectionError(f"connection closed; frames: {self.frames[-5:]}")
                    await self._cond.wait()

        try:
            return await asyncio.wait_for(find(), timeout)
        except TimeoutError:
            raise AssertionError(f"timed out; last frames: {json.dumps(self.frames[-5:])[:2000]}") from None

    async def send(self, frame: Any) -> None:
        await self.ws.send(frame if isinstance(frame, str | bytes) else json.dumps(frame))

    def new_id(self) -> int:
        self._next += 1
        return 10_000 + self._next

    async def request(self, method: str, params: Any = None, *, timeout: float = TIMEOUT, **extra: Any) -> Frame:
        rid = self.new_id()
        frame: Frame = {"jsonrpc": "2.0", "id": rid, "method": method, **extra}
        if params is not None:
            frame["params"] = params
        await self.send(frame)
        return await self.wait_for(lambda f: f.get("id") == rid and "method" not in f, timeout)

    async def call(self, method: str, params: Any = None, **kw: Any) -> Any:
        response = await self.request(method, params, **kw)
        assert "result" in response, response
        return response["result"]

    async def error(self, method: str, params: Any = None, **kw: Any) -> tuple[int, str]:
        response = await self.request(method, params, **kw)
        assert "error" in response, response
        return response["error"]["code"], response["error"]["message"]

    async def notify(self, method: str, params: Any = None) -> None:
        await self.send({"jsonrpc": "2.0", "method": method, "params": params or {}})

    async def init(self, **params: Any) -> str:
        result = await self.call("initialize", {"clientName": "ref-tests", **params})
        await self.notify("initialized")
        return str(result["sessionId"])

    def notifications(self, method: str | None = None, pid: str | None = None) -> list[Frame]:
        return [
            f["params"]
            for f in self.frames
            if "method" in f
            and "id" not in f
            and (method is None or f["method"] == method)
            and (pid is None or f["params"].get("processId") == pid)
        ]

    async def wait_closed_notification(self, pid: str, timeout: float = TIMEOUT) -> Frame:
        return await self.wait_for(
            lambda f: f.get("method") == "process/closed" and f["params"]["processId"] == pid, timeout
        )

    def output(self, pid: str) -> bytes:
        return b"".join(base64.b64decode(n["chunk"]) for n in self.notifications("process/output", pid))

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.ws.close(), 2)
        self._reader.cancel()
        with contextlib.suppress(BaseException):
            await self._reader


def uri(path: Path | str) -> str:
    return "file://" + str(path)


def start_params(pid: str, argv: list[str], cwd: Path, **extra: Any) -> dict[str, Any]:
    params: dict[str, Any] = {
        "processId": pid,
        "argv": argv,
        "cwd": uri(cwd),
        "env": {"PATH": "/usr/bin:/bin"},
        "tty": False,
    }
    params.update(extra)
    return params


def b64(data: bytes | str) -> str:
    return base64.b64encode(data.encode() if isinstance(data, str) else data).decode()
