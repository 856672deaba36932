"""The load cases: each is byte-exact or fails with an account (see the package docstring)."""

from __future__ import annotations

import asyncio

import pytest

from pytest_execserver.client import ExecClient
from pytest_execserver.glue.fixtures import ExecProxy
from pytest_execserver.glue.load_run import LoadRunner
from pytest_execserver.load import reconnect_storm
from pytest_execserver.suites.load.options import STORM_PROPERTY

# a process that double-forks a grandchild (same process group, re-parented away), then waits to be terminated
DOUBLE_FORK = ["sh", "-c", "(sleep 30 >/dev/null 2>&1 </dev/null &); printf ready; exec sleep 31"]


@pytest.mark.load(clients=8, processes_per_client=4)
async def test_concurrent_clients_byte_exact(exec_load: LoadRunner, load_clients: int) -> None:
    """N clients at once, each running one-shot processes one after the other; every output byte-exact."""
    result = await exec_load(clients=load_clients)
    assert result.operations == load_clients * 4, result.summary()


@pytest.mark.load(clients=4, duration_s=2.0, rate=20.0)
async def test_open_loop_arrivals_byte_exact(exec_load: LoadRunner, load_clients: int) -> None:
    """Operations arrive at a fixed rate whether or not earlier ones finished (latency from the intended
    start: no coordinated omission); every output byte-exact."""
    scale = load_clients / 8
    result = await exec_load(clients=max(1, round(4 * scale)), rate=20.0 * scale)
    assert result.operations >= 1, result.summary()


async def test_reconnect_storm_through_the_proxy(exec_proxy: ExecProxy, load_clients: int,
                                                 request: pytest.FixtureRequest) -> None:
    """Every client's connection cut at once (the Toxiproxy proxy disabled and enabled: existing
    connections dropped, new ones refused until it is back), then every 2nd client cut twice more; each
    resumes its session, and its process's output -- head before the cut, tail after -- is byte-exact."""

    async def cut(_: list[ExecClient]) -> None:
        await asyncio.to_thread(exec_proxy.control.disable, exec_proxy.name)
        await asyncio.to_thread(exec_proxy.control.enable, exec_proxy.name)

    result = await reconnect_storm(exec_proxy.url, clients=load_clients, flaps=2, cut=cut, timeout_s=60.0)
    request.node.user_properties.append((STORM_PROPERTY, result.summary()))  # a line in the terminal summary
    assert result.ok, result.summary()
    assert result.cuts == load_clients + 2 * len(range(0, load_clients, 2))


@pytest.mark.resource_budget(rss_mb=1024, fds=1024, threads=256, descendants=0, idle_cpu_pct=50, fd_growth=8)
@pytest.mark.load(clients=4, processes_per_client=4)
async def test_server_resource_budget(exec_load: LoadRunner, exec_client: ExecClient, load_clients: int) -> None:
    """Under load and after it the server stays within a generous budget; it leaks no fds; a terminated
    process's double-forked grandchild does not outlive the terminate (sampled from /proc)."""
    result = await exec_load(clients=max(1, load_clients // 2))
    assert result.errors == 0, result.summary()
    handle = await exec_client.start(DOUBLE_FORK)
    async for chunk in handle:
        assert chunk.data == b"ready"
        break
    assert await handle.terminate()
    await handle.wait(20)
