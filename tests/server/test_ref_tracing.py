"""The request's W3C ``trace`` is continued in the server's spans (exported only when OTEL_* asks)."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from pytest_execserver.servers.confine import choose_confinement
from pytest_execserver.servers.launch import start_server

from .procutil import server_pid
from .refclient import Client, start_params

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
PARENT = "b7ad6b7169203331"


async def test_server_spans_continue_the_request_trace(tmp_path: Path) -> None:
    server = start_server(
        "ref",
        tmp_path / "scratch",
        confinement=choose_confinement(),
        env={"OTEL_TRACES_EXPORTER": "console", "OTEL_BSP_SCHEDULE_DELAY": "50"},
    )
    try:
        c = await Client.connect(server.url)
        await c.init()
        trace = {"traceparent": f"00-{TRACE_ID}-{PARENT}-01"}
        await c.call("process/start", start_params("t", ["/bin/true"], server.scratch), trace=trace)
        await c.close()
        os.kill(server_pid(server), signal.SIGTERM)  # graceful: flushes the span processor
        assert server.popen.wait(timeout=10) == 0
    finally:
        server.stop()
    log = server.log_path.read_text()
    assert f'"trace_id": "0x{TRACE_ID}"' in log
    assert f'"parent_id": "0x{PARENT}"' in log
    assert '"name": "execserver.server process/start"' in log


async def test_no_export_without_otel_env(client: Client, work: Path) -> None:
    trace = {"traceparent": f"00-{TRACE_ID}-{PARENT}-01"}
    assert "result" in await client.request("environment/info", trace=trace)
