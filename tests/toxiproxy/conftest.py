"""Fixtures: Toxiproxy servers (embedded always, the real binary when on PATH) and loopback upstreams."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_execserver.toxi import ToxiproxyControl, ToxiproxyError, ToxiproxyServer, start_toxiproxy
from tests.toxiproxy.toxi_helpers import TcpServer, echo

BACKENDS = ["embedded", "real"]


@pytest.fixture(scope="module", params=BACKENDS)
def toxi_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ToxiproxyServer]:
    """One server per backend per module; the real one is skipped when not installed."""
    if request.param == "real" and shutil.which("toxiproxy-server") is None:
        pytest.skip("real toxiproxy-server is not on PATH")
    log_dir: Path = tmp_path_factory.mktemp(f"toxiproxy-{request.param}")
    with start_toxiproxy(request.param, log_dir=log_dir) as server:
        yield server


@pytest.fixture
def toxi(toxi_server: ToxiproxyServer) -> Iterator[ToxiproxyControl]:
    """A control for the module's server, left with no proxies after the test."""
    control = toxi_server.control
    yield control
    for name in list(control.proxies()):
        with contextlib.suppress(ToxiproxyError):
            control.destroy_proxy(name)


@pytest.fixture
def echo_server() -> Iterator[TcpServer]:
    server = TcpServer(echo)
    yield server
    server.stop()
