"""Fixtures: Toxiproxy servers (embedded, and the real binary that ``./run`` installs) and loopback upstreams."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_execserver.faults.backend import BackendChoiceError, select_backend
from pytest_execserver.faults.toxi import (
    ToxiproxyControl,
    ToxiproxyError,
    ToxiproxyServer,
    start_toxiproxy,
)
from tests.toxiproxy.toxi_helpers import TcpServer, echo

BACKENDS = ["embedded", "real"]


def require_real() -> None:
    """Skip (or, when required, fail) unless the real toxiproxy-server is installed."""
    try:
        select_backend("real")
    except BackendChoiceError as exc:
        if os.environ.get("EXECSERVER_REQUIRE_REAL_TOXIPROXY") == "1":
            pytest.fail(f"EXECSERVER_REQUIRE_REAL_TOXIPROXY=1 but {exc}")
        pytest.skip(str(exc))


@pytest.fixture(scope="module", params=BACKENDS)
def toxi_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ToxiproxyServer]:
    """One server per backend per module.

    Without the real binary (Go missing) its half skips, saying why; with ``EXECSERVER_REQUIRE_REAL_TOXIPROXY=1``
    (set by ``./run tests``) it fails instead, so CI never passes on the embedded server alone.
    """
    if request.param == "real":
        require_real()
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
