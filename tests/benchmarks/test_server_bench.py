"""One-shot ``/bin/true`` start-to-closed latency over an open, initialized connection.

Servers: the reference server with its journal (as every fixture starts it), the reference server without
it (the journal's overhead is the difference, measured in the same run), and codex. All run confined on
loopback; the client is a synchronous websocket client so the measurement is dominated by the server.
p50/p95 (ms) land in ``extra_info``.
"""

from __future__ import annotations

import itertools
import json
import statistics
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.sync.client import ClientConnection, connect

from pytest_execserver.checks.journal import Journal
from pytest_execserver.servers.confine import choose_confinement
from pytest_execserver.servers.launch import ServerProcess, start_server

pytestmark = pytest.mark.benchmark(group="start-to-closed /bin/true", min_rounds=200, warmup=True)


class OneShot:
    def __init__(self, ws: ClientConnection, server: ServerProcess) -> None:
        self.ws = ws
        self.server = server
        self.cwd_uri = "file://" + str(server.scratch)
        self.ids = itertools.count(1)
        self.runs = 0

    def run(self) -> None:
        n = next(self.ids)
        self.runs += 1
        pid = f"b{n}"
        self.ws.send(
            json.dumps(
                {
                    "id": n,
                    "method": "process/start",
                    "params": {"processId": pid, "argv": ["/bin/true"], "cwd": self.cwd_uri, "env": {}, "tty": False},
                }
            )
        )
        closed = f'"method":"process/closed","params":{{"processId":"{pid}"'
        while True:
            message = self.ws.recv(timeout=10)
            assert isinstance(message, str)
            if '"error"' in message:
                raise AssertionError(message)
            if closed in message.replace(" ", ""):
                return


@pytest.fixture
def one_shot(request: pytest.FixtureRequest, launch_server: Any, tmp_path: Path) -> Iterator[OneShot]:
    if request.param == "ref-no-journal":
        server = start_server("ref", tmp_path / "nojournal", confinement=choose_confinement(), journal=False)
    else:
        server = launch_server(request.param)
    try:
        with connect(server.url, max_size=None) as ws:
            ws.send(json.dumps({"id": 0, "method": "initialize", "params": {"clientName": "bench"}}))
            assert "sessionId" in str(ws.recv(timeout=10))
            ws.send(json.dumps({"method": "initialized", "params": {}}))
            yield OneShot(ws, server)
    finally:
        if request.param == "ref-no-journal":
            server.stop()


@pytest.mark.parametrize("one_shot", ["ref", "ref-no-journal", "codex"], indirect=True)
def test_true_start_to_closed(benchmark: Any, one_shot: OneShot) -> None:
    benchmark.pedantic(one_shot.run, rounds=300, iterations=1, warmup_rounds=20)
    server = one_shot.server
    if server.kind == "ref":  # the journal is on exactly when the fixture asked for it, and complete
        if server.journal_path is None:
            assert not any(server.scratch.glob("*.jsonl"))
        else:
            closed = [p for p in Journal.load(server.journal_path).processes() if p.closed]
            assert len(closed) == one_shot.runs
    if benchmark.stats is None:  # --benchmark-disable: the round ran once as a smoke test
        return
    data = sorted(benchmark.stats.stats.data)
    benchmark.extra_info["p50_ms"] = round(statistics.median(data) * 1000, 3)
    benchmark.extra_info["p95_ms"] = round(data[int(len(data) * 0.95) - 1] * 1000, 3)
