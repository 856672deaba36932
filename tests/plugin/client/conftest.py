"""Fixtures for the client tests: a confined server per test (ref and codex) and client factories."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from pytest_execserver.checks.history import History
from pytest_execserver.client import ExecClient, connect
from pytest_execserver.servers.launch import ServerProcess
from tests.plugin.client.client_testkit import MakeClient

SERVER_KINDS = ["ref", "codex"]


@pytest.fixture(params=SERVER_KINDS)
def server_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def server(launch_server: Callable[..., ServerProcess], server_kind: str) -> ServerProcess:
    """A fresh confined server of the parametrized kind."""
    return launch_server(server_kind)


@pytest.fixture
def history() -> History:
    return History()


@pytest.fixture
async def make_client(server: ServerProcess, history: History) -> AsyncIterator[MakeClient]:
    """Connect clients to ``server`` (sharing ``history``); all are closed in teardown."""
    clients: list[ExecClient] = []

    async def make(url: str | None = None, **kwargs: Any) -> ExecClient:
        kwargs.setdefault("history", history)
        client = await connect(url or server.url, **kwargs)
        clients.append(client)
        return client

    yield make
    for client in clients:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(client.close(), 5)
