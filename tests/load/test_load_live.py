"""Load and reconnect storms against the real reference server (confined), each check proven on a bug."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from typing import Any

import pytest

from pytest_execserver.client import ExecClient, ProcessResult, connect
from pytest_execserver.faults.toxi import ToxiproxyControl
from pytest_execserver.load import LoadResult, check_thresholds, reconnect_storm, run_load, run_load_async
from pytest_execserver.servers.launch import ServerProcess

StartServer = Callable[..., ServerProcess]


SERVERS = ["ref", pytest.param("codex", marks=pytest.mark.codex)]


@pytest.mark.parametrize("kind", SERVERS)
async def test_sixteen_clients_each_run_processes_byte_exact(launch_server: StartServer, kind: str) -> None:
    server = launch_server(kind)
    result = await run_load_async(server.url, clients=16, processes_per_client=4, rate=200.0)
    assert result.error_samples == []
    assert (result.operations, result.errors, result.latency.count) == (64, 0, 64)
    assert check_thresholds(result, ["errors==0", "operations>=64", "p99_ms<=30000"]) == [], result.summary()


async def test_load_run_counts_lost_output_as_errors(launch_server: StartServer) -> None:
    # drop-chunk loses every process's 2nd output chunk: a 100 kB payload comes in several chunks
    server = launch_server("ref", "--inject-bug", "drop-chunk")
    result = await run_load_async(server.url, clients=2, processes_per_client=1, payload_bytes=100_000)
    assert (result.operations, result.errors) == (0, 2), result.error_samples
    assert check_thresholds(result, ["errors==0"]) == ["errors==0 failed: measured 2.000"]


class _TruncatingClient:
    """A deliberately broken client: the real client, but it loses the last byte of every stdout."""

    def __init__(self, client: ExecClient) -> None:
        self.client = client

    async def run(self, argv: list[str], **kwargs: Any) -> ProcessResult:
        result = await self.client.run(argv, **kwargs)
        result.stdout = result.stdout[:-1]
        return result

    async def close(self) -> None:
        await self.client.close()


async def test_load_run_catches_a_client_that_is_not_byte_exact(launch_server: StartServer) -> None:
    server = launch_server("ref")

    async def broken(url: str, index: int) -> Any:
        return _TruncatingClient(await connect(url))

    result = await run_load_async(server.url, clients=3, processes_per_client=2, client_factory=broken)
    assert (result.operations, result.errors) == (0, 6)
    assert all("stdout differs at byte 63: got 63 bytes" in e for e in result.error_samples), result.error_samples


async def test_storm_of_sixteen_clients_cut_at_once_recovers_byte_exact(launch_server: StartServer) -> None:
    server = launch_server("ref")
    result = await reconnect_storm(server.url, clients=16, flaps=3)
    assert result.ok, result.summary()
    assert (result.recovered, result.cuts, result.recovery.count) == (16, 16 + 3 * 8, 40)


@pytest.mark.parametrize("kind", SERVERS)
async def test_storm_of_64_clients_cut_at_once_recovers_byte_exact(launch_server: StartServer, kind: str) -> None:
    server = launch_server(kind)
    result = await reconnect_storm(server.url, clients=64, flaps=2)
    assert result.ok, result.summary()
    assert (result.recovered, result.cuts) == (64, 64 + 2 * 32)


async def test_storm_check_fires_when_output_is_lost_on_resume(launch_server: StartServer) -> None:
    server = launch_server("ref", "--inject-bug", "lose-first-chunk-after-resume")
    result = await reconnect_storm(server.url, clients=4, timeout_s=20.0)
    assert not result.ok
    assert result.recovered == 0 and len(result.errors) == 4, result.summary()
    # our client notices the seq hole itself; a client that did not would fail the byte-exact check
    assert all("no longer retained" in e or "stdout differs" in e for e in result.errors), result.errors


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_storm_through_a_toxiproxy_proxy_taken_down_and_up(
    launch_server: StartServer, toxiproxy: ToxiproxyControl
) -> None:
    server = launch_server("ref")
    control = toxiproxy
    listen = f"127.0.0.1:{_free_port()}"
    control.create_proxy("load-storm", server.url.removeprefix("ws://"), listen=listen)
    try:

        async def cut(_: list[ExecClient]) -> None:
            # every connection through the proxy dropped at once; new ones refused until it is back
            await asyncio.to_thread(control.disable, "load-storm")
            await asyncio.to_thread(control.enable, "load-storm")

        result = await reconnect_storm(f"ws://{listen}", clients=16, cut=cut)
    finally:
        control.destroy_proxy("load-storm")
    assert result.ok, result.summary()
    assert result.recovered == 16


def test_run_load_is_callable_from_plain_sync_code(launch_server: StartServer) -> None:
    server = launch_server("ref")
    result = run_load(server.url, clients=2, processes_per_client=2, duration_s=30.0, rate=50.0)
    assert (result.operations, result.errors) == (4, 0), result.error_samples
    assert LoadResult.from_dict(result.to_dict()).latency.count == 4  # what an xdist worker would ship
