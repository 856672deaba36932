"""Toxic behaviour measured on loopback (wide timing margins: the machine is small and noisy)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from pytest_execserver.faults.toxi import ToxiproxyControl, start_toxiproxy
from tests.toxiproxy.toxi_helpers import TcpServer, connect, recv_exactly, recv_until_closed, round_trip


@pytest.fixture
def proxy(toxi: ToxiproxyControl, echo_server: TcpServer) -> str:
    """An echo proxy named ``p``; returns its listen address."""
    return str(toxi.create_proxy("p", echo_server.address)["listen"])


@pytest.fixture
def client(proxy: str) -> Iterator[socket.socket]:
    sock = connect(proxy)
    yield sock
    sock.close()


def test_passthrough_bulk(client: socket.socket) -> None:
    payload = bytes(range(256)) * 4096  # 1 MiB
    sender = threading.Thread(target=client.sendall, args=(payload,))
    sender.start()
    assert recv_exactly(client, len(payload)) == payload
    sender.join()


def test_latency_each_direction_adds_up(toxi: ToxiproxyControl, proxy: str) -> None:
    toxi.add_toxic("p", "latency", {"latency": 150})
    with connect(proxy) as sock:
        assert 0.14 <= round_trip(sock) < 1.0
    toxi.add_toxic("p", "latency", {"latency": 150}, stream="upstream")
    with connect(proxy) as sock:
        assert 0.29 <= round_trip(sock) < 1.5
    toxi.add_toxic("p", "latency", {"latency": 100}, name="second")
    with connect(proxy) as sock:
        assert 0.39 <= round_trip(sock) < 2.0


def test_latency_jitter_keeps_order(toxi: ToxiproxyControl, client: socket.socket) -> None:
    toxi.add_toxic("p", "latency", {"latency": 50, "jitter": 45})
    sent = b"".join(b"%06d" % i for i in range(300))
    for i in range(300):
        client.sendall(b"%06d" % i)
    assert recv_exactly(client, len(sent)) == sent


def test_live_add_and_remove_keeps_bytes(toxi: ToxiproxyControl, client: socket.socket) -> None:
    """Toxics added, updated and removed mid-stream: every byte arrives once and in order."""
    total = 4000
    received = bytearray()

    def reader() -> None:
        received.extend(recv_exactly(client, total * 8))

    thread = threading.Thread(target=reader)
    thread.start()
    for i in range(total):
        client.sendall(b"%08d" % i)
        if i == 500:
            toxi.add_toxic("p", "latency", {"latency": 20, "jitter": 10}, name="lat")
        if i == 1000:
            toxi.add_toxic(
                "p",
                "slicer",
                {"average_size": 3, "size_variation": 1, "delay": 10},
                name="sl",
                stream="upstream",
            )
        if i == 1500:
            toxi.update_toxic("p", "lat", {"latency": 5})
        if i == 2000:
            toxi.add_toxic("p", "bandwidth", {"rate": 1000}, name="bw")
        if i == 2500:
            toxi.remove_toxic("p", "lat")
        if i == 3000:
            toxi.remove_toxic("p", "sl")
            toxi.remove_toxic("p", "bw")
    thread.join(20)
    assert bytes(received) == b"".join(b"%08d" % i for i in range(total))


def test_latency_added_to_open_connection(toxi: ToxiproxyControl, client: socket.socket) -> None:
    assert round_trip(client) < 0.5
    toxi.add_toxic("p", "latency", {"latency": 200}, name="lat")
    assert round_trip(client) >= 0.19
    toxi.remove_toxic("p", "lat")
    assert round_trip(client) < 0.15


def test_timeout_stops_data_then_closes(toxi: ToxiproxyControl, client: socket.socket) -> None:
    toxi.add_toxic("p", "timeout", {"timeout": 300})
    start = time.monotonic()
    client.sendall(b"lost")
    client.settimeout(5)
    data, how = recv_until_closed(client)
    assert data == b"" and how in ("eof", "reset")
    assert 0.25 <= time.monotonic() - start < 3


def test_timeout_zero_holds_until_removed(toxi: ToxiproxyControl, client: socket.socket) -> None:
    toxi.add_toxic("p", "timeout", {"timeout": 0}, name="t")
    client.sendall(b"lost")
    client.settimeout(0.5)
    assert recv_until_closed(client) == (b"", "timeout")
    toxi.remove_toxic("p", "t")  # removing a timeout toxic closes the connection, as in Go
    client.settimeout(5)
    assert recv_until_closed(client)[1] in ("eof", "reset")


@pytest.mark.parametrize("stream", ["upstream", "downstream"])
def test_reset_peer(toxi: ToxiproxyControl, proxy: str, stream: str) -> None:
    """A connection opened with reset_peer in place is reset (RST) ``timeout`` ms after its first data."""
    toxi.add_toxic("p", "reset_peer", {"timeout": 200}, stream=stream)
    with connect(proxy) as sock:
        start = time.monotonic()
        sock.sendall(b"payload")
        sock.settimeout(5)
        assert recv_until_closed(sock) == (b"", "reset")
        assert 0.15 <= time.monotonic() - start < 3


def test_reset_peer_on_open_connection_closes(toxi: ToxiproxyControl, client: socket.socket) -> None:
    """Go sets SO_LINGER 0 only when a connection starts with the toxic: added later, it is a plain close."""
    round_trip(client)
    toxi.add_toxic("p", "reset_peer", {"timeout": 0}, stream="upstream")
    client.sendall(b"payload")
    client.settimeout(5)
    assert recv_until_closed(client) == (b"", "eof")


def test_bandwidth(toxi: ToxiproxyControl, client: socket.socket) -> None:
    toxi.add_toxic("p", "bandwidth", {"rate": 100})  # 100 KB/s
    payload = b"x" * 50_000
    start = time.monotonic()
    client.sendall(payload)
    assert recv_exactly(client, len(payload)) == payload
    assert 0.35 <= time.monotonic() - start < 3


def test_slicer(toxi: ToxiproxyControl, client: socket.socket) -> None:
    toxi.add_toxic("p", "slicer", {"average_size": 10, "size_variation": 5, "delay": 5000})
    payload = bytes(range(200))
    start = time.monotonic()
    client.sendall(payload)
    assert recv_exactly(client, len(payload)) == payload
    assert time.monotonic() - start >= 0.05  # at least ~16 slices, 5 ms apart


def test_slicer_many_small_slices_stay_fast(toxi: ToxiproxyControl, client: socket.socket) -> None:
    """64 KiB cut into ~7-byte slices both ways (some 20 000 slices): linear, not quadratic, work."""
    for stream in ("upstream", "downstream"):
        toxi.add_toxic("p", "slicer", {"average_size": 7, "size_variation": 6}, stream=stream, name=stream)
    payload = bytes(range(256)) * 256
    start = time.monotonic()
    sender = threading.Thread(target=client.sendall, args=(payload,))
    sender.start()
    assert recv_exactly(client, len(payload)) == payload
    sender.join()
    assert time.monotonic() - start < 3  # quadratic held-data bookkeeping took over 6 s here


def test_limit_data(toxi: ToxiproxyControl, client: socket.socket) -> None:
    toxi.add_toxic("p", "limit_data", {"bytes": 100})
    client.sendall(b"a" * 60)
    assert recv_exactly(client, 60) == b"a" * 60
    client.sendall(b"b" * 60)
    client.settimeout(5)
    data, how = recv_until_closed(client)
    assert data == b"b" * 40 and how in ("eof", "reset")


def test_slow_close(toxi: ToxiproxyControl) -> None:
    def hello_and_close(conn: socket.socket) -> None:
        conn.sendall(b"bye")
        conn.close()

    upstream = TcpServer(hello_and_close)
    try:
        listen = toxi.create_proxy("sc", upstream.address)["listen"]
        toxi.add_toxic("sc", "slow_close", {"delay": 300})
        start = time.monotonic()
        with connect(listen) as sock:
            assert recv_until_closed(sock) == (b"bye", "eof")
        assert 0.25 <= time.monotonic() - start < 3
    finally:
        upstream.stop()


def test_toxicity_zero_and_one(toxi: ToxiproxyControl, proxy: str) -> None:
    toxi.add_toxic("p", "latency", {"latency": 300}, toxicity=0.0)
    with connect(proxy) as sock:
        assert round_trip(sock) < 0.25
    toxi.update_toxic("p", "latency_downstream", toxicity=1.0)
    with connect(proxy) as sock:
        assert round_trip(sock) >= 0.29


def _pattern(backend: str, echo_address: str, seed: int, tmp_path: object) -> list[bool]:
    """Which of 12 connections got a 50%-toxicity latency toxic, for a fresh server seeded ``seed``."""
    with start_toxiproxy(backend, seed=seed) as server:
        control = server.control
        listen = control.create_proxy("p", echo_address)["listen"]
        control.add_toxic("p", "latency", {"latency": 150}, toxicity=0.5)
        pattern = []
        for _ in range(12):
            with connect(listen) as sock:
                pattern.append(round_trip(sock) > 0.1)
        return pattern


def test_toxicity_is_seeded(echo_server: TcpServer, tmp_path: object) -> None:
    """Embedded only: Go 2.12 ignores ``-seed`` (it seeds a generator it then drops), see the README."""
    first = _pattern("embedded", echo_server.address, 7, tmp_path)
    assert _pattern("embedded", echo_server.address, 7, tmp_path) == first
    assert 0 < sum(first) < len(first)


def test_unreachable_upstream_closes_client(toxi: ToxiproxyControl) -> None:
    with socket.socket() as spare:
        spare.bind(("127.0.0.1", 0))
        dead = f"127.0.0.1:{spare.getsockname()[1]}"  # bound, never listening: refused
        listen = toxi.create_proxy("dead", dead)["listen"]
        with connect(listen) as sock:
            sock.settimeout(5)
            assert recv_until_closed(sock)[1] in ("eof", "reset")


def test_client_eof_closes_both_ways(toxi: ToxiproxyControl, client: socket.socket) -> None:
    """Toxiproxy has no half-close: shutting down writes ends the whole connection."""
    round_trip(client)
    client.shutdown(socket.SHUT_WR)
    client.settimeout(5)
    assert recv_until_closed(client)[1] in ("eof", "reset")
