"""Fixtures for the live protocol-fault tests: a confined reference server, proxies in front of it, clients."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from pytest_execserver.checks.history import History
from pytest_execserver.client import ExecClient, connect
from pytest_execserver.client import transport as client_transport
from pytest_execserver.faults.protocol import Fault, OnFire, ProtocolProxy
from pytest_execserver.servers.launch import ServerProcess

MakeProxy = Callable[..., Awaitable[ProtocolProxy]]
MakeClient = Callable[..., Awaitable[ExecClient]]

QUICK_PING_INTERVAL_S = 0.2
QUICK_PING_TIMEOUT_S = 0.4
QUICK_KEEPALIVE_BOUND_S = QUICK_PING_INTERVAL_S + 2 * QUICK_PING_TIMEOUT_S  # Transport._alive: two silent windows


@pytest.fixture
def ref(launch_server: Callable[..., ServerProcess]) -> ServerProcess:
    """A fresh confined reference server (journalling) for this test."""
    return launch_server("ref")


@pytest.fixture
async def make_proxy(ref: ServerProcess) -> AsyncIterator[MakeProxy]:
    """Start protocol fault proxies in front of ``ref``; all are stopped in teardown."""
    proxies: list[ProtocolProxy] = []

    async def make(*faults: Fault, on_fire: OnFire | None = None, upstream: str | None = None) -> ProtocolProxy:
        proxy = await ProtocolProxy(upstream or ref.url, faults, on_fire=on_fire).start()
        proxies.append(proxy)
        return proxy

    yield make
    for proxy in proxies:
        await asyncio.wait_for(proxy.stop(), 10)


@pytest.fixture
def history() -> History:
    return History()


@pytest.fixture
async def make_client(history: History) -> AsyncIterator[MakeClient]:
    """Connect our clients (sharing ``history``); all are closed in teardown."""
    clients: list[ExecClient] = []

    async def make(url: str, **kwargs: Any) -> ExecClient:
        kwargs.setdefault("history", history)
        client = await connect(url, **kwargs)
        clients.append(client)
        return client

    yield make
    for client in clients:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(client.close(), 5)


@pytest.fixture
def quick_keepalive(monkeypatch: pytest.MonkeyPatch) -> float:
    """Our client's keepalive at 0.2 s pings and 0.4 s timeouts; returns its detection bound in seconds."""
    monkeypatch.setattr(client_transport, "PING_INTERVAL_S", QUICK_PING_INTERVAL_S)
    monkeypatch.setattr(client_transport, "PING_TIMEOUT_S", QUICK_PING_TIMEOUT_S)
    return QUICK_KEEPALIVE_BOUND_S
