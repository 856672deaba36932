"""Finding (issue 23): codex keeps one pipe fd per ``pipeStdin`` process after the process closed and its
session disconnected; the reference server releases it. Found by the load CLI: after a reconnect storm of
16 clients (each process with piped stdin) codex held 31 fds against 14 at start, 60 s later."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from pytest_execserver.client import connect
from pytest_execserver.load.resources import ResourceSampler, check_resource_budget
from pytest_execserver.servers.codex import DEFAULT_VERSION
from pytest_execserver.servers.launch import ServerProcess

StartServer = Callable[..., ServerProcess]
PROCESSES = 8

CODEX_KEEPS_STDIN_PIPES = pytest.mark.xfail(strict=True, reason=(
    f"codex {DEFAULT_VERSION}: one pipe fd per process started with pipeStdin stays open after the process "
    f"closed and the client disconnected (measured: {PROCESSES} such processes, stdin written and closed, "
    "each exited 0 -> 8 more pipe fds, still held 45 s later, past the 30 s detached-session TTL; with stdin "
    "left open the same; a reconnect storm of 16 such clients: fds 14 at start, 31 at 60 s); the reference "
    "server is back to its baseline at once"
))  # fmt: skip


async def _piped_processes(url: str) -> None:
    async with connect(url) as client:
        for i in range(PROCESSES):
            handle = await client.start(["sh", "-c", 'read -r x; printf %s "$x"'], pipe_stdin=True)
            await handle.write(f"line{i}\n".encode(), close_stdin=True)
            result = await handle.wait(20)
            assert (result.exit_code, result.stdout) == (0, f"line{i}".encode())


def _fd_growth(server: ServerProcess) -> list[str]:
    with ResourceSampler(server.popen.pid, interval_s=0.1) as sampler:
        asyncio.run(_piped_processes(server.url))
        sampler.settle(grace_s=2.0, idle_s=2.0)
    return [str(v) for v in check_resource_budget(sampler.samples, fd_growth=2)]


@pytest.mark.parametrize("kind", ["ref", pytest.param("codex", marks=[pytest.mark.codex, CODEX_KEEPS_STDIN_PIPES])])
def test_piped_stdin_fds_are_released_after_the_session(launch_server: StartServer, kind: str) -> None:
    assert _fd_growth(launch_server(kind)) == []


def test_the_check_fires_on_a_server_that_leaks_fds(launch_server: StartServer) -> None:
    (violation,) = _fd_growth(launch_server("ref", "--inject-bug", "leak-fds"))
    assert violation.startswith("fd_growth: ") and "(a leak)" in violation
