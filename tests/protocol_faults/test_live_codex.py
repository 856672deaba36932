"""A few protocol faults with the real codex exec-server behind the proxy (our client in front)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from pytest_execserver.checks.history import History
from pytest_execserver.client import RequestTimeout
from pytest_execserver.faults.protocol import ProtocolProxy, make_fault
from pytest_execserver.servers.launch import ServerProcess

from .conftest import MakeClient
from .test_live_faults import EXPECTED, SLOW_LINES


@pytest.fixture
def codex(launch_server: Callable[..., ServerProcess]) -> ServerProcess:
    return launch_server("codex")


@pytest.mark.parametrize(
    "fault",
    [
        make_fault("close", code=1012, on="process/output", nth=3),
        make_fault("cut", on="process/output", nth=2),
        make_fault("duplicate", on="process/output", nth=2),
        make_fault("reorder", on="process/output", nth=2, hold=2),
    ],
    ids=["close1012", "cut", "duplicate", "reorder"],
)
async def test_output_faults_on_codex_keep_output_byte_exact(
    codex: ServerProcess, make_client: MakeClient, history: History, fault: object
) -> None:
    async with ProtocolProxy(codex.url, [fault]) as proxy:  # type: ignore[list-item]
        client = await make_client(proxy.url)
        result = await client.run(SLOW_LINES, cwd=codex.scratch, timeout=30)
        assert result.stdout == EXPECTED
        assert len(proxy.events) == 1
        await client.close()


async def test_drop_of_the_start_response_on_codex_is_outcome_unknown(
    codex: ServerProcess, make_client: MakeClient
) -> None:
    async with ProtocolProxy(codex.url, [make_fault("drop", on="process/start:response")]) as proxy:
        client = await make_client(proxy.url, request_timeout_s=1.5)
        with pytest.raises(RequestTimeout):
            await client.start(["echo", "x"], cwd=codex.scratch)
        assert [e.kind for e in proxy.events] == ["drop"]
        assert (await client.run(["echo", "next"], cwd=codex.scratch, timeout=20)).stdout == b"next\n"
        await client.close()
