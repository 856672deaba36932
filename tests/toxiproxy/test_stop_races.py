"""Stopping a proxy (disable, delete, address change) closes *every* connection it accepted.

Including clients still being set up: accepted but not yet wrapped by asyncio, or waiting for the
upstream dial. Real loopback sockets throughout; the embedded server runs in the test's own loop so the
proxy's connection set can be inspected, and once as a subprocess driven over HTTP.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import random
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from pytoxiproxy.api import ApiServer
from pytoxiproxy.log import Logger
from pytoxiproxy.proxy import Proxy

from pytest_execserver.faults.toxi import ToxiproxyServer, start_toxiproxy
from pytest_execserver.waiting import wait_until
from tests.toxiproxy.toxi_helpers import TcpServer, connect, echo, recv_until_closed

CLOSE_WITHIN_S = 2.0  # wide margin: a correct stop closes the client in milliseconds


class StuckUpstream:
    """A listener whose accept queue is full and never drained: connect() to it stays pending."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(0)
        self.address = f"127.0.0.1:{self.sock.getsockname()[1]}"
        self.fillers: list[socket.socket] = []
        for _ in range(8):
            filler = socket.socket()
            filler.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                filler.connect(self.sock.getsockname())
            self.fillers.append(filler)
        time.sleep(0.1)
        probe = socket.socket()
        probe.settimeout(0.3)
        try:
            probe.connect(self.sock.getsockname())
        except OSError:
            pass
        else:
            pytest.skip("this kernel completes connects to a full listener; cannot hold a dial pending")
        finally:
            probe.close()

    def close(self) -> None:
        for sock in [*self.fillers, self.sock]:
            sock.close()


@pytest.fixture
def stuck_upstream() -> Iterator[StuckUpstream]:
    upstream = StuckUpstream()
    yield upstream
    upstream.close()


@pytest.fixture
def echo_upstream() -> Iterator[TcpServer]:
    server = TcpServer(echo)
    yield server
    server.stop()


def _split(address: str) -> tuple[str, int]:
    host, port = address.rsplit(":", 1)
    return host.strip("[]"), int(port)


async def open_client(address: str) -> socket.socket:
    sock = socket.socket()
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, _split(address))
    return sock


async def closed_how(sock: socket.socket, timeout: float = CLOSE_WITHIN_S) -> str:
    """Read (discarding) until the peer closes: ``"eof"``, ``"reset"`` or ``"timeout"``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        remaining = deadline - loop.time()
        if remaining <= 0:
            return "timeout"
        try:
            data = await asyncio.wait_for(loop.sock_recv(sock, 65536), remaining)
        except TimeoutError:
            return "timeout"
        except OSError:  # RST, or (stress clients) a connect that was refused
            return "reset"
        if not data:
            return "eof"


async def settle(proxy: Proxy, timeout: float = CLOSE_WITHIN_S) -> None:
    """Wait until the proxy tracks no connection any more."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while proxy.connections and loop.time() < deadline:
        await asyncio.sleep(0.01)


def dialling(proxy: Proxy) -> bool:
    """One client, accepted and wrapped by asyncio, whose upstream dial has not completed."""
    conns = list(proxy.connections)
    return len(conns) == 1 and conns[0].client.transport is not None and conns[0].up is None


def linked(proxy: Proxy) -> bool:
    """One client whose links to the upstream exist."""
    conns = list(proxy.connections)
    return len(conns) == 1 and conns[0].up is not None


@pytest.fixture
async def api() -> AsyncIterator[tuple[ApiServer, aiohttp.ClientSession, str]]:
    """The embedded API in this loop on 127.0.0.1:0, with a session to call it."""
    server = ApiServer(Logger(io.StringIO()), random.Random(7))
    runner = web.AppRunner(server.app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    async with aiohttp.ClientSession(f"http://127.0.0.1:{port}") as session:
        yield server, session, f"http://127.0.0.1:{port}"
    await server.collection.clear()
    await runner.cleanup()


async def call(session: aiohttp.ClientSession, method: str, path: str, body: Any = None) -> Any:
    async with session.request(method, path, json=body) as response:
        assert response.status < 300, await response.text()
        return await response.json() if response.status != 204 else None


async def create(session: aiohttp.ClientSession, name: str, upstream: str) -> Any:
    return await call(session, "POST", "/proxies", {"name": name, "listen": "127.0.0.1:0", "upstream": upstream})


# -- a pending upstream dial is closed by every kind of stop -------------------------------------
STOPS = {
    "disable": ("POST", {"enabled": False}),
    "disable_patch": ("PATCH", {"enabled": False}),
    "delete": ("DELETE", None),
    "new_upstream": ("POST", {"upstream": "127.0.0.1:9"}),
}


@pytest.mark.parametrize("how", sorted(STOPS))
async def test_stop_closes_client_while_upstream_dial_pending(
    api: tuple[ApiServer, aiohttp.ClientSession, str], stuck_upstream: StuckUpstream, how: str
) -> None:
    server, session, _ = api
    info = await create(session, "p", stuck_upstream.address)
    proxy = server.collection.proxies["p"]
    client = await open_client(info["listen"])
    await wait_until(lambda: dialling(proxy), CLOSE_WITHIN_S, "client accepted, upstream dial pending")
    assert len(proxy.connections) == 1
    method, body = STOPS[how]
    started = asyncio.get_running_loop().time()
    await call(session, method, "/proxies/p", body)
    assert await closed_how(client) in ("eof", "reset")
    assert asyncio.get_running_loop().time() - started < CLOSE_WITHIN_S
    assert not proxy.connections
    client.close()


async def test_disable_then_enable_does_not_revive_pending_client(
    api: tuple[ApiServer, aiohttp.ClientSession, str], stuck_upstream: StuckUpstream
) -> None:
    """The ``down`` fault: disable, re-enable 200 ms later; the client set up before is gone."""
    server, session, _ = api
    info = await create(session, "p", stuck_upstream.address)
    client = await open_client(info["listen"])
    proxy = server.collection.proxies["p"]
    await wait_until(lambda: dialling(proxy), CLOSE_WITHIN_S, "client accepted, upstream dial pending")
    await call(session, "POST", "/proxies/p", {"enabled": False})
    await wait_until(lambda: not proxy.connections, CLOSE_WITHIN_S, "disable dropped the client")
    await call(session, "POST", "/proxies/p", {"enabled": True})
    assert await closed_how(client) in ("eof", "reset")
    assert not server.collection.proxies["p"].connections
    client.close()


# -- clients accepted but not yet handed over (the asyncio server race) -------------------------
async def _proxy(upstream: str) -> Proxy:
    proxy = Proxy("p", "127.0.0.1:0", upstream, Logger(io.StringIO()), random.Random(1))
    await proxy.start()
    return proxy


async def _accept_now(proxy: Proxy) -> None:
    """Run the listener's accept callback synchronously, as the loop would on readability."""
    listener = proxy._listener
    assert listener is not None
    proxy._accept_ready(listener, proxy._epoch)


@pytest.mark.parametrize("restart", [False, True], ids=["stop", "stop_start"])
async def test_stop_right_after_accept_closes_client(echo_upstream: TcpServer, restart: bool) -> None:
    """Accepted in the same loop step as the stop: no transport yet, no dial yet; still closed."""
    proxy = await _proxy(echo_upstream.address)
    client = await open_client(proxy.listen)
    await _accept_now(proxy)
    assert len(proxy.connections) == 1
    await proxy.stop()
    if restart:
        await proxy.start()  # same step: the old client must not be adopted by the new listener
    assert await closed_how(client) in ("eof", "reset")
    await settle(proxy)
    assert not proxy.connections
    client.close()
    await proxy.stop()


@pytest.mark.parametrize("restart", [False, True], ids=["stop", "stop_start"])
async def test_stop_between_transport_and_dial_closes_client(stuck_upstream: StuckUpstream, restart: bool) -> None:
    proxy = await _proxy(stuck_upstream.address)
    client = await open_client(proxy.listen)
    await _accept_now(proxy)
    await asyncio.sleep(0)  # the set-up task wraps the socket ...
    await asyncio.sleep(0)  # ... connection_made runs
    await proxy.stop()
    if restart:
        await proxy.start()
    assert await closed_how(client) in ("eof", "reset")
    await settle(proxy)
    assert not proxy.connections
    client.close()
    await proxy.stop()


# -- connections closing gracefully stay tracked until really closed -----------------------------
async def test_stop_aborts_connection_still_flushing_its_close() -> None:
    """Upstream sends and closes while the client reads nothing: the proxy's close of the client
    socket waits on unsent bytes, so the connection must stay tracked and stop() must drop it."""
    payload = b"x" * (48 * 1024)  # below asyncio's write high-water mark: no back-pressure

    def send_and_close(conn: socket.socket) -> None:
        conn.recv(1)  # wait until the proxy's client socket is set up (see below)
        conn.sendall(payload)
        conn.close()

    upstream = TcpServer(send_and_close)
    proxy = await _proxy(upstream.address)
    client = socket.socket()
    client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    client.setblocking(False)
    loop = asyncio.get_running_loop()
    try:
        await loop.sock_connect(client, _split(proxy.listen))
        deadline = loop.time() + CLOSE_WITHIN_S
        while not (proxy.connections and next(iter(proxy.connections)).up is not None):
            assert loop.time() < deadline
            await asyncio.sleep(0.01)
        conn = next(iter(proxy.connections))
        assert conn.client.transport is not None
        conn.client.transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        await loop.sock_sendall(client, b"go")
        transport = conn.client.transport
        # the upstream's EOF went through the link, and the client socket is closing (unsent bytes)
        await wait_until(lambda: conn.down is not None and conn.down.finished and transport.is_closing(),
                         CLOSE_WITHIN_S, "upstream EOF through the link")
        assert proxy.connections == {conn}  # closing is not closed: still tracked
        await proxy.stop()
        assert not proxy.connections
        assert await closed_how(client) in ("eof", "reset")
    finally:
        client.close()
        await proxy.stop()
        upstream.stop()


# -- toxic removal and /reset ----------------------------------------------------------------------
async def test_removing_timeout_toxic_closes_and_untracks(
    api: tuple[ApiServer, aiohttp.ClientSession, str], echo_upstream: TcpServer
) -> None:
    server, session, _ = api
    info = await create(session, "p", echo_upstream.address)
    await call(session, "POST", "/proxies/p/toxics", {"name": "t", "type": "timeout", "attributes": {"timeout": 0}})
    client = await open_client(info["listen"])
    await asyncio.get_running_loop().sock_sendall(client, b"swallowed")
    proxy = server.collection.proxies["p"]
    await wait_until(lambda: linked(proxy), CLOSE_WITHIN_S, "client linked")
    assert len(proxy.connections) == 1
    await call(session, "DELETE", "/proxies/p/toxics/t")
    assert await closed_how(client) in ("eof", "reset")
    await settle(proxy)
    assert not proxy.connections
    assert not proxy.toxics.links
    client.close()


async def test_reset_after_disable_leaves_no_old_connection(
    api: tuple[ApiServer, aiohttp.ClientSession, str], echo_upstream: TcpServer, stuck_upstream: StuckUpstream
) -> None:
    """/reset re-enables and drops toxics; connections from before the disable stay closed."""
    server, session, _ = api
    live = await create(session, "live", echo_upstream.address)
    stuck = await create(session, "stuck", stuck_upstream.address)
    await call(session, "POST", "/proxies/live/toxics", {"name": "t", "type": "timeout", "attributes": {"timeout": 0}})
    held = await open_client(live["listen"])  # kept open by the timeout toxic until /reset
    pending = await open_client(stuck["listen"])
    proxies = server.collection.proxies
    await wait_until(lambda: linked(proxies["live"]) and dialling(proxies["stuck"]), CLOSE_WITHIN_S, "both clients in")
    await call(session, "POST", "/proxies/stuck", {"enabled": False})
    await call(session, "POST", "/reset")
    assert await closed_how(pending) in ("eof", "reset")
    assert await closed_how(held) in ("eof", "reset")  # removing a timeout toxic closes (Go's Cleanup)
    for name in ("live", "stuck"):
        await settle(server.collection.proxies[name])
        assert not server.collection.proxies[name].connections
    fresh = await open_client(live["listen"])
    loop = asyncio.get_running_loop()
    await loop.sock_sendall(fresh, b"ping")
    assert await asyncio.wait_for(loop.sock_recv(fresh, 4), CLOSE_WITHIN_S) == b"ping"
    for sock in (held, pending, fresh):
        sock.close()


# -- stress: connects racing with stop/start cycles --------------------------------------------------
class Spammer:
    """Threads opening non-blocking connects to ``address`` as fast as they can."""

    def __init__(self, address: str, threads: int = 4) -> None:
        self.target = _split(address)
        self.clients: list[socket.socket] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]
        for thread in self._threads:
            thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            sock = socket.socket()
            sock.setblocking(False)
            with contextlib.suppress(OSError):
                sock.connect(self.target)
            with self._lock:
                self.clients.append(sock)
            time.sleep(0.001)

    def stop(self) -> list[socket.socket]:
        self._stop.set()
        for thread in self._threads:
            thread.join(5)
        return self.clients


async def still_open(clients: list[socket.socket], timeout: float = CLOSE_WITHIN_S) -> list[socket.socket]:
    """The clients that have not seen EOF, RST or a failed connect within ``timeout``.

    Each client first sends one byte. A client whose handshake the kernel never finished on the proxy's
    side (its last ACK lost under load, then the listener closed) believes it is connected and hears
    nothing until it sends: the byte draws the peer kernel's RST. A client the proxy really still holds
    gets no RST (its byte is read, or echoed back by the upstream), so it still counts as open.
    """
    for sock in clients:
        with contextlib.suppress(OSError):
            sock.send(b"?")
    results = await asyncio.gather(*(closed_how(sock, timeout) for sock in clients))
    return [sock for sock, how in zip(clients, results, strict=True) if how == "timeout"]


@pytest.mark.parametrize("upstream_kind", ["echo", "stuck"])
async def test_stress_connects_racing_stop_start(
    upstream_kind: str, echo_upstream: TcpServer, stuck_upstream: StuckUpstream
) -> None:
    upstream = echo_upstream.address if upstream_kind == "echo" else stuck_upstream.address
    proxy = await _proxy(upstream)
    rng = random.Random(upstream_kind)
    spammer = Spammer(proxy.listen)
    try:
        for _ in range(40):
            await asyncio.sleep(rng.choice([0, 0, 0.001, 0.005, 0.02]))
            await proxy.stop()
            if rng.random() < 0.5:
                await asyncio.sleep(rng.choice([0, 0.002]))
            await proxy.start()
    finally:
        clients = spammer.stop()
        await proxy.stop()
    try:
        assert len(clients) > 50
        assert not proxy.connections
        left = await still_open(clients)
        assert not left, f"{len(left)} of {len(clients)} clients still connected after the final stop"
    finally:
        for sock in clients:
            sock.close()


@pytest.fixture(scope="module")
def embedded_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ToxiproxyServer]:
    log_dir: Path = tmp_path_factory.mktemp("toxiproxy-races")
    with start_toxiproxy("embedded", log_dir=log_dir) as server:
        yield server


def test_stress_disable_enable_over_http(embedded_process: ToxiproxyServer, echo_upstream: TcpServer) -> None:
    """The chaos suite's pattern against the server process: connects racing disable/enable calls."""
    control = embedded_process.control
    info = control.create_proxy("races", upstream=echo_upstream.address)
    spammer = Spammer(info["listen"])
    try:
        for _ in range(30):
            control.disable("races")
            control.enable("races")
    finally:
        clients = spammer.stop()
        control.disable("races")
    try:
        left = asyncio.run(still_open(clients))
        assert not left, f"{len(left)} of {len(clients)} clients still connected after the final disable"
        control.enable("races")
        with connect(control.get_proxy("races")["listen"]) as sock:
            sock.sendall(b"ok")
            assert sock.recv(2) == b"ok"
        with connect(control.get_proxy("races")["listen"], timeout=CLOSE_WITHIN_S) as sock:
            control.disable("races")
            assert recv_until_closed(sock)[1] in ("eof", "reset")
    finally:
        for sock in clients:
            sock.close()
        control.destroy_proxy("races")
