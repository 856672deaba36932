"""Fixtures for the reference server's tests: shared confined servers and connected clients."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from pytest_execserver.servers.confine import choose_confinement
from pytest_execserver.servers.launch import ServerProcess, start_server

from .refclient import Client


@pytest.fixture(scope="module")
def ref_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One confined reference server per test module (default flags)."""
    scratch = tmp_path_factory.mktemp("refsrv") / "scratch"
    server = start_server("ref", scratch, confinement=choose_confinement())
    yield server
    server.stop()


@pytest.fixture
def work(ref_server: ServerProcess) -> Path:
    """A fresh directory inside the shared server's scratch."""
    path = ref_server.scratch / f"w{os.urandom(4).hex()}"
    path.mkdir()
    return path


@pytest.fixture
async def client(ref_server: ServerProcess) -> AsyncIterator[Client]:
    c = await Client.connect(ref_server.url)
    await c.init()
    yield c
    await c.close()
