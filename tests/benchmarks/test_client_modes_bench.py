"""Client round-trip cost per mode: ``run(echo)`` and 1 MiB of output, event-stream vs legacy-read."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from pytest_execserver.client import ExecClient, connect
from pytest_execserver.launch import ServerProcess

MODES = ["event-stream", "legacy-read"]
WORKLOADS = {
    "echo": (["/bin/echo", "hi"], 3),
    "1MiB": (["/bin/sh", "-c", "head -c 1048576 /dev/zero"], 1048576),
}


@pytest.mark.parametrize("kind", ["ref", "codex"])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("workload", list(WORKLOADS))
def test_client_run(
    benchmark: Any, launch_server: Callable[..., ServerProcess], kind: str, mode: str, workload: str
) -> None:
    server = launch_server(kind)
    argv, size = WORKLOADS[workload]
    loop = asyncio.new_event_loop()
    client: ExecClient = loop.run_until_complete(connect(server.url, mode=mode))
    try:

        def once() -> None:
            result = loop.run_until_complete(client.run(argv, timeout=10))
            assert len(result.stdout) == size

        benchmark.pedantic(once, rounds=10, warmup_rounds=1)
    finally:
        loop.run_until_complete(client.close())
        loop.close()
