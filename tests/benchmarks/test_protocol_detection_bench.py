"""How long our client takes, with its default keepalive, to notice a dead peer made by a protocol fault.

Run: ``.venv/bin/python -m pytest -p execserver tests/benchmarks/test_protocol_detection_bench.py
--benchmark-only -s`` (skipped unless benchmarks run: each case waits out the real keepalive, about 20 s).
The time is from the proxy's fault event to the client's ``reconnect`` invoke (the same monotonic clock).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from pytest_execserver.checks.history import History
from pytest_execserver.client import connect
from pytest_execserver.client import transport as client_transport
from pytest_execserver.faults.protocol import ProtocolProxy, make_fault
from pytest_execserver.servers.launch import ServerProcess
from pytest_execserver.waiting import wait_until

BOUND_S = client_transport.PING_INTERVAL_S + 2 * client_transport.PING_TIMEOUT_S


@pytest.mark.parametrize("kind", ["blackhole", "mute_pongs"])
async def test_default_keepalive_detection(
    kind: str, benchmark: BenchmarkFixture, request: pytest.FixtureRequest,
    launch_server: Callable[..., ServerProcess],
) -> None:  # fmt: skip
    if request.config.getoption("benchmark_disable", False):
        pytest.skip("a detection measure waits out the client's real keepalive; run with --benchmark-only")
    server = launch_server("ref")
    fault = make_fault(kind, on="initialized:notification")
    history = History()
    async with ProtocolProxy(server.url, [fault]) as proxy:
        client = await connect(proxy.url, history=history, recovery_deadline_s=5)
        try:
            await wait_until(lambda: history.select("reconnect", "invoke"), BOUND_S + 15)
        finally:
            client.abort_transport()
            await client.close()
        detected_s = (history.select("reconnect", "invoke")[0].time_ns - proxy.events[0].t_ns) / 1e9
    benchmark.extra_info["detected_s"] = detected_s
    benchmark.extra_info["bound_s"] = BOUND_S
    benchmark.pedantic(lambda: None, rounds=1)
    print(f"\n{kind}: our client noticed after {detected_s:.2f} s (keepalive bound {BOUND_S:.0f} s)")
    assert detected_s <= BOUND_S + 10
