#!/usr/bin/env python3
"""An example exec-server client for pytest-execserver's line protocol, written directly on ``websockets``.

    pytest --pyargs pytest_execserver.suites.chaos --execserver-client "python examples/ws_client.py {url}"

It reads one JSON request per line on stdin and answers each with one JSON line on stdout (README, "Test
your own client"); it exits when stdin closes. It depends on nothing but ``websockets`` (>= 13), so it
reads like a client in any language would:

* one websocket, one session: ``initialize`` then the ``initialized`` notification;
* a run is ``process/start`` (a fresh ``processId``), optionally one ``process/write`` (fixed ``writeId``),
  then long-poll ``process/read`` from the last seq seen until ``closed`` -- output is read back, so the
  pushed ``process/output`` notifications are ignored;
* when the connection drops it reconnects with ``resumeSessionId`` (retrying while the server still holds
  the old connection: -32010) and carries on reading from the last seq: that read-back is the recovery;
* a ``process/start`` whose answer was lost is never re-sent blindly: a ``process/read`` of that id tells
  whether the server has it (and only if it does not, the start, same id, goes out again);
* it gives up at the request's ``timeout_ms`` (or when the session is gone) with an ``error`` reply.

The methods are small on purpose: the harness's tests subclass them to build deliberately wrong clients.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import sys
import time
import uuid
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

SESSION_ALREADY_ATTACHED = -32010
READ_WAIT_MS = 500
SILENCE_S = 3.0  # no answer to a request for this long (beyond its long-poll) means the connection is dead


def log(message: str) -> None:
    """One line on stderr (the harness shows an adapter's stderr when a test fails)."""
    print(f"ws_client {time.monotonic():.3f} {message}", file=sys.stderr, flush=True)


class Lost(Exception):
    """The connection is gone; the request's outcome is unknown."""


class RpcError(Exception):
    """A JSON-RPC error response."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"{message} (code {code})")
        self.code = code


class ClientError(Exception):
    """A failure reported to the harness: ``type`` is the error reply's type name."""

    def __init__(self, type_name: str, message: str) -> None:
        super().__init__(message)
        self.type_name = type_name


class Connection:
    """One websocket: requests matched to responses by id; notifications are ignored."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.ids = itertools.count(1)
        self.pending: dict[int, asyncio.Future[Any]] = {}
        self.lost = False
        self.reader = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        try:
            async for message in self.ws:
                frame = json.loads(message)
                request_id = frame.get("id") if isinstance(frame, dict) else None
                future = self.pending.pop(request_id, None) if isinstance(request_id, int) else None
                if future is None or future.done():
                    continue
                if "error" in frame:
                    error = frame["error"] or {}
                    future.set_exception(RpcError(int(error.get("code", 0)), str(error.get("message", ""))))
                else:
                    future.set_result(frame.get("result"))
        except (ConnectionClosed, OSError, ValueError):
            pass
        finally:
            self.lost = True
            for future in self.pending.values():
                if not future.done():
                    future.set_exception(Lost("connection lost"))
            self.pending.clear()

    async def call(self, method: str, params: dict[str, Any], timeout_s: float) -> Any:
        if self.lost:
            raise Lost("connection lost")
        request_id = next(self.ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.pending[request_id] = future
        try:
            async with asyncio.timeout(timeout_s):  # the send too: a stalled socket is a dead one as well
                await self.ws.send(json.dumps({"id": request_id, "method": method, "params": params}))
                return await future
        except ConnectionClosed as exc:
            raise Lost(str(exc)) from exc
        except TimeoutError:
            self.abort()  # a silent connection is a dead one
            raise Lost(f"no answer to {method} within {timeout_s:.1f}s") from None
        finally:
            self.pending.pop(request_id, None)

    async def notify(self, method: str, params: dict[str, Any]) -> None:
        try:
            await asyncio.wait_for(self.ws.send(json.dumps({"method": method, "params": params})), SILENCE_S)
        except (ConnectionClosed, TimeoutError) as exc:
            self.abort()
            raise Lost(f"{method}: {exc!r}") from exc

    def abort(self) -> None:
        self.lost = True
        with contextlib.suppress(Exception):
            self.ws.transport.abort()
        self.reader.cancel()

    async def close(self) -> None:
        self.lost = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.ws.close(), 1.0)
        self.abort()


class Adapter:
    """One session on one exec-server, reconnecting and resuming as needed."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.conn: Connection | None = None
        self.session_id: str | None = None
        self.partial: dict[str, bytearray] = {}  # what the current run delivered so far

    # ------------------------------------------------------------------ connection and session

    def initialize_params(self) -> dict[str, Any]:
        params: dict[str, Any] = {"clientName": "ws_client example"}
        if self.session_id is not None:
            params["resumeSessionId"] = self.session_id
        return params

    async def connection(self, deadline: float) -> Connection:
        """The live connection, reconnecting (and resuming the session) until ``deadline``."""
        if self.conn is not None and not self.conn.lost:
            return self.conn
        delay = 0.02
        last = "no attempt"
        while True:
            conn: Connection | None = None
            try:
                ws = await connect(self.url, open_timeout=max(0.1, min(3.0, deadline - time.monotonic())),
                                   max_size=None, max_queue=4, compression=None, ping_interval=None)
                conn = Connection(ws)
                params = self.initialize_params()
                result = await conn.call("initialize", params, SILENCE_S)
                await conn.notify("initialized", {})
                log(f"connected, session {result['sessionId']}" + (" (resumed)" if "resumeSessionId" in params else ""))
                self.session_id = str(result["sessionId"])
                self.conn = conn
                return conn
            except RpcError as exc:
                if exc.code != SESSION_ALREADY_ATTACHED:  # unknown or expired session: its processes are gone
                    lost, self.session_id = self.session_id, None  # the next run opens a new session
                    if conn is not None:
                        conn.abort()
                    raise ClientError("SessionLost", f"session {lost} cannot be resumed: {exc}") from exc
                last = str(exc)  # the server has not noticed the old connection died yet
            except (Lost, OSError, InvalidHandshake, InvalidURI, TimeoutError) as exc:
                last = f"{type(exc).__name__}: {exc}"
            log(f"connect attempt failed: {last}")
            if conn is not None:
                conn.abort()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ClientError("TransportError", f"could not reconnect to {self.url}: {last}")
            await asyncio.sleep(min(delay, remaining))
            delay = min(delay * 2, 0.25)

    async def call(self, method: str, params: dict[str, Any], deadline: float, wait_s: float = 0.0) -> Any:
        """A request that is safe to repeat: re-sent on a new connection after a drop, until ``deadline``."""
        while True:
            conn = await self.connection(deadline)
            try:
                return await conn.call(method, params, wait_s + SILENCE_S)
            except Lost as exc:
                log(f"{method}: {exc}")
                if time.monotonic() >= deadline:
                    raise ClientError("TransportError", f"{method}: connection lost and deadline passed") from None

    # ------------------------------------------------------------------ one run

    async def start(self, params: dict[str, Any], deadline: float) -> None:
        """``process/start`` exactly once, even when the connection drops before its answer."""
        while True:
            conn = await self.connection(deadline)
            try:
                await conn.call("process/start", params, SILENCE_S)
                return
            except Lost as exc:
                log(f"process/start {params['processId']}: {exc}; asking the server whether it started")
                if await self.started_on_server(params["processId"], deadline):
                    return
            # the server never saw it: sending it again starts the process once

    async def started_on_server(self, process_id: str, deadline: float) -> bool:
        try:
            await self.call("process/read", {"processId": process_id, "afterSeq": 0, "maxBytes": 0}, deadline)
        except RpcError as exc:
            if "unknown process" in str(exc):
                return False
            raise
        return True

    def accept(self, chunk: dict[str, Any], out: dict[str, bytearray]) -> None:
        stream = "stderr" if chunk["stream"] == "stderr" else "stdout"  # a pty's output is stdout
        out[stream] += base64.b64decode(chunk["chunk"])

    async def run(self, request: dict[str, Any]) -> dict[str, Any]:
        deadline = time.monotonic() + int(request.get("timeout_ms", 30_000)) / 1000
        process_id = f"ws-{uuid.uuid4().hex[:12]}"
        stdin = request.get("stdin_b64")
        await self.start({"processId": process_id, "argv": request["argv"], "cwd": request["cwd"],
                          "env": request.get("env") or {}, "tty": bool(request.get("tty")),
                          "pipeStdin": stdin is not None}, deadline)
        if stdin is not None:  # a fixed writeId: a repeat after a reconnect is not written twice
            await self.call("process/write", {"processId": process_id, "chunk": stdin,
                                              "writeId": f"{process_id}-stdin", "closeStdin": True}, deadline)
        out = self.partial = {"stdout": bytearray(), "stderr": bytearray()}
        after = 0
        exit_code: int | None = None
        while True:
            if time.monotonic() >= deadline:
                raise ClientError("TimeoutError", f"process {process_id} not closed within timeout_ms")
            result = await self.call("process/read", {"processId": process_id, "afterSeq": after,
                                                      "waitMs": READ_WAIT_MS}, deadline, READ_WAIT_MS / 1000)
            for chunk in result.get("chunks") or []:
                if chunk["seq"] > after:
                    self.accept(chunk, out)
                    after = chunk["seq"]
            if result.get("exited"):
                exit_code = result.get("exitCode")
            if result.get("closed"):
                break
            after = max(after, int(result.get("nextSeq", after + 1)) - 1)
        return {"exit_code": exit_code, "stdout_b64": base64.b64encode(out["stdout"]).decode(),
                "stderr_b64": base64.b64encode(out["stderr"]).decode(), "error": None}

    async def handle(self, request: dict[str, Any]) -> dict[str, Any]:
        self.partial = {}
        try:
            if request.get("op") != "run":
                raise ClientError("UnsupportedOp", f"unknown op {request.get('op')!r}")
            reply = await self.run(request)
        except (ClientError, RpcError) as exc:
            type_name = exc.type_name if isinstance(exc, ClientError) else "ExecServerError"
            reply = {"exit_code": None, "error": {"type": type_name, "message": str(exc)},
                     **{f"{k}_b64": base64.b64encode(v).decode() for k, v in self.partial.items()}}
        return {"id": request.get("id"), **reply}

    async def close(self) -> None:
        if self.conn is not None:
            await self.conn.close()


async def serve(adapter: Adapter) -> None:
    """The line protocol: a request per stdin line, a reply per stdout line, until stdin closes."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=64 * 1024 * 1024)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    try:
        while line := await reader.readline():
            reply = await adapter.handle(json.loads(line))
            sys.stdout.write(json.dumps(reply) + "\n")
            sys.stdout.flush()
    finally:
        await adapter.close()


def main(adapter_class: type[Adapter] = Adapter) -> None:
    if len(sys.argv) != 2:
        sys.exit(f"usage: {sys.argv[0]} ws://HOST:PORT")
    asyncio.run(serve(adapter_class(sys.argv[1])))


if __name__ == "__main__":
    main()
