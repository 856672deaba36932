"""Embedded-only behaviour: CLI flags, -config, and safe data-time handling where Go crashes or hangs."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_execserver.faults.toxi import ToxiproxyControl, ToxiproxyError, ToxiproxyServer, start_toxiproxy
from pytest_execserver.waiting import wait_until_sync
from tests.toxiproxy.conftest import require_real
from tests.toxiproxy.toxi_helpers import TcpServer, connect, recv_exactly, round_trip


@pytest.fixture(scope="module")
def embedded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ToxiproxyServer]:
    with start_toxiproxy("embedded", log_dir=tmp_path_factory.mktemp("emb")) as server:
        yield server


@pytest.fixture
def ctl(embedded: ToxiproxyServer) -> Iterator[ToxiproxyControl]:
    control = embedded.control
    yield control
    for name in list(control.proxies()):
        control.destroy_proxy(name)


def test_version_flag() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "pytoxiproxy", "-version"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert out.stdout == "toxiproxy-server version 2.12.0\n"


def test_bound_address_logged(embedded: ToxiproxyServer) -> None:
    lines = [json.loads(line) for line in embedded.log_tail(100_000).splitlines()]
    started = [line for line in lines if line["message"] == "Starting Toxiproxy HTTP server"]
    assert started and "http://" + started[0]["address"] == embedded.url


def test_config_file(tmp_path: Path, echo_server: TcpServer) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps([{"name": "cfg", "upstream": echo_server.address, "listen": "127.0.0.1:0"}]))
    argv = [sys.executable, "-m", "pytoxiproxy", "-host", "127.0.0.1", "-port", "0", "-config", str(config)]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        assert proc.stdout is not None
        url = ""
        for raw in proc.stdout:
            line = json.loads(raw)
            if line["message"] == "Starting Toxiproxy HTTP server":
                url = "http://" + line["address"]
                break
        proxy = ToxiproxyControl(url).get_proxy("cfg")
        with connect(proxy["listen"]) as sock:
            round_trip(sock)
    finally:
        proc.terminate()
        proc.wait(10)


# Go accepts these and then crashes, spins or holds once data flows; we accept them too (see
# test_differential) and do something safe at data time: pass the data (``intact``), or hold it until the
# toxic is removed (``held``), or drop it as Go does (``lost``); never crash.
SAFE_AT_DATA_TIME = [
    ("slicer", {"average_size": 0}, "intact"),  # Go: endless recursion, stack overflow
    ("slicer", {"average_size": 10, "size_variation": 10}, "intact"),  # Go: slice bounds panic
    ("slicer", {"average_size": 1, "size_variation": 500}, "intact"),
    ("slicer", {"average_size": -4, "size_variation": -3}, "intact"),
    ("bandwidth", {"rate": 0}, "held"),  # Go: loops for ever, no byte passes
    ("bandwidth", {"rate": -5}, "held"),  # Go: slice bounds panic
    ("latency", {"latency": -1}, "intact"),  # Go: no delay
    ("latency", {"latency": 10**16}, "held"),  # Go: the duration wraps
    ("latency", {"latency": 0, "jitter": 2**62}, "either"),  # Go: rand.Int63n panics
    ("timeout", {"timeout": -1}, "lost"),  # Go: like 0, swallows data, never closes
    ("slow_close", {"delay": -1}, "intact"),
    ("limit_data", {"bytes": -1}, "lost"),  # Go: closes at the first chunk
]


@pytest.mark.parametrize(("kind", "attributes", "outcome"), SAFE_AT_DATA_TIME)
def test_accepted_where_go_misbehaves_and_safe_at_data_time(
    ctl: ToxiproxyControl, echo_server: TcpServer, kind: str, attributes: dict[str, int], outcome: str
) -> None:
    listen = ctl.create_proxy("p", echo_server.address)["listen"]
    ctl.add_toxic("p", kind, attributes, name="odd")
    payload = bytes(range(256)) * 40
    with connect(listen) as sock:
        sock.sendall(payload)
        sock.settimeout(0.3)
        got = bytearray()
        with contextlib.suppress(TimeoutError):
            while len(got) < len(payload) and (data := sock.recv(65536)):
                got += data
        if outcome == "lost":
            assert bytes(got) == b""
            return
        if outcome == "held":
            assert bytes(got) == b""
        if outcome == "intact":
            assert bytes(got) == payload
        ctl.remove_toxic("p", "odd")  # held data is passed on, in order
        sock.settimeout(5)
        got += recv_exactly(sock, len(payload) - len(got))
        assert bytes(got) == payload
    with connect(listen) as sock:  # the server and the proxy live on
        round_trip(sock)


def test_real_server_crashes_where_we_stay_safe(echo_server: TcpServer, tmp_path: Path) -> None:
    """Why the rows above exist: a negative bandwidth rate takes the whole real server down."""
    require_real()
    with start_toxiproxy("real", log_dir=tmp_path) as real:
        listen = real.control.create_proxy("p", echo_server.address)["listen"]
        real.control.add_toxic("p", "bandwidth", {"rate": -5})
        with connect(listen) as sock:
            sock.sendall(b"x" * 1000)
            assert real.popen is not None
            wait_until_sync(lambda: real.popen is not None and real.popen.poll() is not None, 10, "real server exit")
        assert "slice bounds out of range" in real.log_tail(100_000)


def test_go_json_quirks(ctl: ToxiproxyControl, echo_server: TcpServer) -> None:
    """Keys match case-insensitively, trailing data after the JSON value is ignored, nulls are skipped."""
    ctl.create_proxy("p", echo_server.address)
    body = b'{"Type": "latency", "NAME": "x", "attributes": {"LATENCY": 7, "jitter": null}} trailing'
    request = urllib.request.Request(ctl.url + "/proxies/p/toxics", data=body, method="POST")
    with urllib.request.urlopen(request, timeout=5) as response:
        assert json.loads(response.read())["attributes"] == {"latency": 7, "jitter": 0}


def test_listen_error_is_500(ctl: ToxiproxyControl, echo_server: TcpServer) -> None:
    listen = ctl.create_proxy("a", echo_server.address)["listen"]
    with pytest.raises(ToxiproxyError) as info:
        ctl.create_proxy("b", echo_server.address, listen=listen)
    assert info.value.status == 500 and "address already in use" in info.value.message
    assert "b" not in ctl.proxies()
