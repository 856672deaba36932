#!/usr/bin/env python3
"""Deliberately wrong clients (the example adapter with one bug each), to prove every client check fires.

    python tests/subjects/wrong_clients.py BUG ws://...

BUG: ``drop-chunk`` (loses the second output chunk it reads), ``restart-on-reconnect`` (starts the process
again, under a new processId, after a reconnect), ``new-session`` (never sends resumeSessionId),
``rewrite-stdin`` (writes stdin again on a new connection with a new writeId), ``hang`` (never answers),
``retry-start`` (a start with no answer is sent again blindly, under a new processId), ``no-liveness``
(waits on a silent connection forever: never notices it is dead), ``retry-resume`` (a resume the server
refused, because it lost the session, is retried until the run's deadline), ``hoard`` (keeps every message it
receives), ``strict-session`` (a frame about a process it did not start fails its whole session).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
import uuid
from typing import Any

from pytest_execserver.examples import ws_client
from pytest_execserver.examples.ws_client import SILENCE_S, Adapter, ClientError, Connection, Lost, main


class DropChunk(Adapter):
    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.seen = 0

    def accept(self, chunk: dict[str, Any], out: dict[str, bytearray]) -> None:
        self.seen += 1
        if self.seen != 2:
            super().accept(chunk, out)


class RestartOnReconnect(Adapter):
    """Starts the process afresh (new processId) when a read was cut by a reconnect, and reads that one."""

    current: dict[str, Any] | None = None
    renamed: dict[str, str] = {}

    async def start(self, params: dict[str, Any], deadline: float) -> None:
        self.current = dict(params)
        await super().start(params, deadline)

    async def call(self, method: str, params: dict[str, Any], deadline: float, wait_s: float = 0.0) -> Any:
        while True:
            pid = params.get("processId")
            if pid in self.renamed:
                params = {**params, "processId": self.renamed[pid]}
            conn = await self.connection(deadline)
            try:
                return await conn.call(method, params, wait_s + SILENCE_S)
            except Lost:
                if method != "process/read" or self.current is None:
                    continue
                conn = await self.connection(deadline)
                fresh = {**self.current, "processId": f"ws-{uuid.uuid4().hex[:12]}"}
                await conn.call("process/start", fresh, SILENCE_S)
                self.renamed = {str(pid): fresh["processId"]}
                self.partial["stdout"].clear()
                self.partial["stderr"].clear()


class NewSession(Adapter):
    def initialize_params(self) -> dict[str, Any]:
        return {"clientName": "wrong: new session"}


class RewriteStdin(Adapter):
    """Writes stdin, drops its own connection, and writes it again with a new writeId."""

    async def call(self, method: str, params: dict[str, Any], deadline: float, wait_s: float = 0.0) -> Any:
        result = await super().call(method, params, deadline, wait_s)
        if method == "process/write":
            assert self.conn is not None
            self.conn.abort()
            await super().call(method, {**params, "writeId": params["writeId"] + "-again"}, deadline, wait_s)
        return result


class RetryStart(Adapter):
    """A start whose answer did not come is sent again (new processId) instead of asking the server."""

    async def start(self, params: dict[str, Any], deadline: float) -> None:
        conn = await self.connection(deadline)
        try:
            await conn.call("process/start", params, 1.0)
        except Lost:
            conn = await self.connection(deadline)
            await conn.call("process/start", {**params, "processId": f"{params['processId']}-again"}, SILENCE_S)


class NoLiveness(Adapter):
    """Waits for any answer as long as it takes: a connection that went silent is never noticed."""

    async def call(self, method: str, params: dict[str, Any], deadline: float, wait_s: float = 0.0) -> Any:
        conn = await self.connection(deadline)
        return await conn.call(method, params, 3600.0)


class RetryResume(Adapter):
    """Treats the restarted server's "unknown session" like a busy one: retries the resume until the deadline."""

    async def connection(self, deadline: float) -> Connection:
        while True:
            session = self.session_id
            try:
                return await super().connection(deadline)
            except ClientError as exc:
                if exc.type_name != "SessionLost":
                    raise
                if time.monotonic() >= deadline:
                    raise ClientError("TransportError", "gave up reconnecting at the run's deadline") from None
                self.session_id = session  # try again, as if the server were only busy
                await asyncio.sleep(0.1)


class TappedConnection(Connection):
    """A connection whose reader sees each message first: :meth:`tap` returns False to stop reading."""

    def tap(self, message: Any) -> bool:
        raise NotImplementedError

    async def _read(self) -> None:
        original, tap = self.ws, self.tap

        class Tap:
            def __aiter__(self) -> Any:
                return self._messages()

            async def _messages(self) -> Any:
                async for message in original:
                    if not tap(message):
                        return
                    yield message

            def __getattr__(self, name: str) -> Any:
                return getattr(original, name)

        self.ws = Tap()  # type: ignore[assignment]
        try:
            await super()._read()
        finally:
            self.ws = original


class HoardingConnection(TappedConnection):
    """Keeps every message it receives (a client that buffers whatever a server sends)."""

    hoard: list[Any] = []

    def tap(self, message: Any) -> bool:
        HoardingConnection.hoard.append(json.loads(message))
        return True


class StrictConnection(TappedConnection):
    """Abandons the connection, and its session, on a frame about a process its client did not start."""

    started: set[str] = set()
    fatal: str | None = None

    def tap(self, message: Any) -> bool:
        frame = json.loads(message)
        params = frame.get("params") if isinstance(frame, dict) else None
        pid = params.get("processId") if isinstance(params, dict) else None
        if pid is not None and pid not in StrictConnection.started:
            StrictConnection.fatal = f"the server sent {frame.get('method')} for unknown process {pid!r}"
            return False
        return True


class StrictSession(Adapter):
    async def start(self, params: dict[str, Any], deadline: float) -> None:
        StrictConnection.started.add(params["processId"])
        await super().start(params, deadline)

    async def call(self, method: str, params: dict[str, Any], deadline: float, wait_s: float = 0.0) -> Any:
        if StrictConnection.fatal is not None:
            raise ClientError("ProtocolError", f"{StrictConnection.fatal}: session abandoned")
        return await super().call(method, params, deadline, wait_s)


class Hang(Adapter):
    async def run(self, request: dict[str, Any]) -> dict[str, Any]:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


BUGS: dict[str, type[Adapter]] = {
    "drop-chunk": DropChunk,
    "restart-on-reconnect": RestartOnReconnect,
    "new-session": NewSession,
    "rewrite-stdin": RewriteStdin,
    "hang": Hang,
    "retry-start": RetryStart,
    "no-liveness": NoLiveness,
    "retry-resume": RetryResume,
    "hoard": Adapter,
    "strict-session": StrictSession,
}
CONNECTIONS: dict[str, type[Connection]] = {"hoard": HoardingConnection, "strict-session": StrictConnection}

if __name__ == "__main__":
    bug = sys.argv.pop(1)
    ws_client.Connection = CONNECTIONS.get(bug, Connection)  # type: ignore[misc]  # what Adapter.connection builds
    main(BUGS[bug])
