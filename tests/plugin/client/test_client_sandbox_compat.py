"""Sandbox-denial compatibility: ``process/exited`` without ``sandboxDenied`` (an older server) costs one
``process/read`` to learn it, as the Codex client does; the result says ``None`` only if still unknown.

The logic runs against a scripted websocket peer (it executes nothing: it only answers with canned frames);
the live test uses the reference server's ``--omit-sandbox-denied`` (an older server) and skips while that
flag does not exist.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.server import Server, ServerConnection, serve

from pytest_execserver.client import connect
from pytest_execserver.servers.launch import ServerProcess, ServerStartError

ABSENT = object()


@dataclass
class ScriptedPeer:
    """Answers initialize/start/read; pushes output 1, exited 2, closed 3 after each start."""

    exited_denied: object = ABSENT  # what process/exited carries as sandboxDenied (ABSENT: no field)
    read_denied: object = ABSENT  # what process/read results carry
    reads: list[dict[str, Any]] = field(default_factory=list)
    server: Server | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        port = next(iter(self.server.sockets)).getsockname()[1]
        return f"ws://127.0.0.1:{port}"

    def _with_denied(self, body: dict[str, Any], value: object) -> dict[str, Any]:
        return body if value is ABSENT else {**body, "sandboxDenied": value}

    async def handle(self, ws: ServerConnection) -> None:
        async for message in ws:
            frame = json.loads(message)
            method, rid, params = frame.get("method"), frame.get("id"), frame.get("params") or {}
            if rid is None:
                continue  # "initialized"
            if method == "initialize":
                await ws.send(json.dumps({"id": rid, "result": {"sessionId": "s1", "environmentInfo": {}}}))
            elif method == "process/start":
                pid = params["processId"]
                await ws.send(json.dumps({"id": rid, "result": {"processId": pid, "sandboxType": "none"}}))
                chunk = base64.b64encode(b"hi\n").decode()
                await ws.send(json.dumps({"method": "process/output",
                                          "params": {"processId": pid, "seq": 1, "stream": "stdout", "chunk": chunk}}))
                exited = self._with_denied({"processId": pid, "seq": 2, "exitCode": 101}, self.exited_denied)
                await ws.send(json.dumps({"method": "process/exited", "params": exited}))
                await ws.send(json.dumps({"method": "process/closed", "params": {"processId": pid, "seq": 3}}))
            elif method == "process/read":
                self.reads.append(params)
                chunk = base64.b64encode(b"hi\n").decode()
                chunks = [{"seq": 1, "stream": "stdout", "chunk": chunk}] if params.get("afterSeq", 0) < 1 else []
                result = {"chunks": chunks, "nextSeq": 4, "exited": True, "exitCode": 101, "closed": True,
                          "failure": None}
                await ws.send(json.dumps({"id": rid, "result": self._with_denied(result, self.read_denied)}))
            else:
                await ws.send(json.dumps({"id": rid, "error": {"code": -32601, "message": "not scripted"}}))


@pytest.fixture
async def peer_factory() -> AsyncIterator[Callable[..., Any]]:
    peers: list[ScriptedPeer] = []

    async def make(**kwargs: Any) -> ScriptedPeer:
        peer = ScriptedPeer(**kwargs)
        peer.server = await serve(peer.handle, "127.0.0.1", 0)
        peers.append(peer)
        return peer

    yield make
    for peer in peers:
        assert peer.server is not None
        peer.server.close()
        await peer.server.wait_closed()


@pytest.mark.parametrize(
    ("exited_denied", "read_denied", "expected", "extra_reads"),
    [
        pytest.param(ABSENT, True, True, 1, id="absent-then-read-says-denied"),
        pytest.param(ABSENT, False, False, 1, id="absent-then-read-says-allowed"),
        pytest.param(ABSENT, ABSENT, None, 1, id="absent-everywhere-stays-unknown"),
        pytest.param(True, ABSENT, True, 0, id="present-true-no-read"),
        pytest.param(False, True, False, 0, id="present-false-no-read"),
    ],
)
async def test_event_stream_learns_missing_sandbox_denial_with_one_read(
    peer_factory: Callable[..., Any], tmp_path: Path, exited_denied: object, read_denied: object,
    expected: bool | None, extra_reads: int,
) -> None:  # fmt: skip
    peer = await peer_factory(exited_denied=exited_denied, read_denied=read_denied)
    async with connect(peer.url) as client:
        result = await client.run(["/bin/true"], cwd=tmp_path, timeout=10)
    assert result.stdout == b"hi\n" and result.exit_code == 101
    assert result.sandbox_denied is expected
    assert len(peer.reads) == extra_reads
    learned = client.history.select("sandbox_denied")
    assert len(learned) == extra_reads
    delivered = client.history.select("deliver:exited")[0]
    assert delivered.data["sandbox_denied"] == (None if exited_denied is ABSENT else exited_denied)


@pytest.mark.parametrize(("read_denied", "expected"), [(True, True), (ABSENT, None)])
async def test_legacy_read_takes_sandbox_denial_from_its_reads(
    peer_factory: Callable[..., Any], tmp_path: Path, read_denied: object, expected: bool | None
) -> None:
    peer = await peer_factory(read_denied=read_denied)
    async with connect(peer.url, mode="legacy-read") as client:
        result = await client.run(["/bin/true"], cwd=tmp_path, timeout=10)
    assert result.stdout == b"hi\n" and result.sandbox_denied is expected


@pytest.mark.parametrize("mode", ["event-stream", "legacy-read"])
async def test_reference_server_without_sandbox_denied_on_exited(
    launch_server: Callable[..., ServerProcess], mode: str
) -> None:
    """Live: an older server (``--omit-sandbox-denied``); its reads say ``false``, so the result does too."""
    try:
        server = launch_server("ref", "--omit-sandbox-denied")
    except ServerStartError as exc:
        pytest.skip(f"the reference server has no --omit-sandbox-denied yet: {str(exc)[:200]}")
    async with connect(server.url, mode=mode) as client:
        result = await client.run(["/bin/sh", "-c", "echo hi"], timeout=10)
    assert result.stdout == b"hi\n"
    wire = client.history.select("wire:process/exited")
    assert wire and all(e.data.get("sandbox_denied") is None for e in wire), "the flag did not omit the field"
    assert result.sandbox_denied is False
    if mode == "event-stream":
        assert len(client.history.select("sandbox_denied")) == 1
