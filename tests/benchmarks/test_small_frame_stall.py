"""Small-frame stall: does the server hold its second small frame until the client ACKs the first?

A server socket without ``TCP_NODELAY`` holds a small write while an earlier one is unacknowledged
(Nagle), and a Linux client ACKs late (delayed ACK, ~40 ms). On an exec-server this shows up as output
arriving tens of milliseconds after the ``process/start`` result. The benchmark runs ``sh -c 'echo hi'``
to completion two ways on one connection: plain, and with the client ACKing at once (``TCP_QUICKACK``
re-armed after every receive, as Linux clears it). ``extra_info["stall_ms_p50"]`` is the median
difference; a server with ``TCP_NODELAY`` shows about zero (codex 0.169.0: ~43 ms, 48 ms vs 4.7 ms).
"""

from __future__ import annotations

import json
import socket
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from websockets.sync.client import ClientConnection, connect

from pytest_execserver.servers.launch import ServerProcess

ROUNDS = 20


def _one_shot(ws: ClientConnection, scratch: Path, process_id: str, quick_ack: bool) -> float:
    started = time.perf_counter()
    ws.send(json.dumps({
        "id": process_id, "method": "process/start",
        "params": {"processId": process_id, "argv": ["/bin/sh", "-c", "echo hi"], "cwd": scratch.as_uri(),
                   "env": {"PATH": "/usr/bin:/bin"}, "tty": False},
    }))  # fmt: skip
    while True:
        frame = json.loads(ws.recv(timeout=10))
        if quick_ack:
            ws.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
        if "error" in frame:
            raise AssertionError(frame)
        if frame.get("method") == "process/closed" and frame["params"]["processId"] == process_id:
            return (time.perf_counter() - started) * 1e3


@pytest.mark.parametrize("kind", ["ref", "codex"])
def test_small_frame_stall(benchmark: Any, launch_server: Callable[..., ServerProcess], kind: str) -> None:
    server = launch_server(kind)
    samples: dict[bool, list[float]] = {False: [], True: []}
    with connect(server.url, max_size=None) as ws:
        ws.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # so only the server can stall
        ws.send(json.dumps({"id": 0, "method": "initialize", "params": {"clientName": "stall"}}))
        ws.recv(timeout=10)
        ws.send(json.dumps({"method": "initialized"}))
        counter = iter(range(10**6))

        def pair() -> None:
            for quick_ack in (False, True):
                samples[quick_ack].append(_one_shot(ws, server.scratch, f"p{next(counter)}", quick_ack))

        benchmark.pedantic(pair, rounds=ROUNDS, warmup_rounds=2)
    plain, quick = statistics.median(samples[False]), statistics.median(samples[True])
    benchmark.extra_info.update(
        {"plain_p50_ms": round(plain, 3), "quickack_p50_ms": round(quick, 3), "stall_ms_p50": round(plain - quick, 3)}
    )
