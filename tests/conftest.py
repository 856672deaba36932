"""Fixtures shared by every test folder: scratch directories and confined server launches."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pytest_execserver.servers.codex import CodexUnavailable, codex_binary
from pytest_execserver.servers.confine import choose_confinement
from pytest_execserver.servers.launch import ServerProcess, start_server

StartServer = Callable[..., ServerProcess]

pytest_plugins = ["pytester"]


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    """A fresh scratch directory: the only place tests may point a server at."""
    path = tmp_path / "scratch"
    path.mkdir()
    return path


@pytest.fixture(scope="session")
def codex_path() -> Path:
    """The real codex binary, fetched once; skips with the reason when it cannot be had."""
    try:
        return codex_binary()
    except CodexUnavailable as exc:
        pytest.skip(f"real codex exec-server unavailable: {exc}")


@pytest.fixture
def launch_server(tmp_path: Path) -> Iterator[StartServer]:
    """Start confined servers (``"ref"`` or ``"codex"``); every one is stopped in teardown."""
    started: list[ServerProcess] = []

    def start(kind: str, *extra_args: str, name: str | None = None) -> ServerProcess:
        if kind == "codex":
            try:
                codex_binary()
            except CodexUnavailable as exc:
                pytest.skip(f"real codex exec-server unavailable: {exc}")
        scratch = tmp_path / (name or f"{kind}-{len(started)}")
        server = start_server(kind, scratch, confinement=choose_confinement(), extra_args=list(extra_args))
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
