"""Embedded-only behaviour: CLI flags, -config, and the inputs we reject where Go crashes or hangs."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_execserver.toxi import ToxiproxyControl, ToxiproxyError, ToxiproxyServer, start_toxiproxy
from tests.toxiproxy.toxi_helpers import TcpServer, connect, round_trip


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


@pytest.mark.parametrize(
    ("kind", "attributes", "reason"),
    [
        ("slicer", {"average_size": 0}, "average_size must be positive"),
        (
            "slicer",
            {"average_size": 10, "size_variation": 10},
            "size_variation must be less than average_size",
        ),
        ("bandwidth", {"rate": 0}, "rate must be positive"),
        ("bandwidth", {"rate": -5}, "rate must be positive"),
        ("latency", {"latency": -1}, "latency must not be negative"),
        ("latency", {"latency": 10**16}, "latency is too large"),
        ("timeout", {"timeout": -1}, "timeout must not be negative"),
    ],
)
def test_rejected_where_go_misbehaves(
    ctl: ToxiproxyControl, echo_server: TcpServer, kind: str, attributes: dict[str, int], reason: str
) -> None:
    listen = ctl.create_proxy("p", echo_server.address)["listen"]
    with pytest.raises(ToxiproxyError) as info:
        ctl.add_toxic("p", kind, attributes)
    assert (info.value.status, info.value.message) == (400, f"bad request body: {reason}")
    ctl.add_toxic("p", "latency", {"latency": 1}, name="ok")
    with pytest.raises(ToxiproxyError):
        ctl.update_toxic("p", "ok", {"latency": -3})
    assert ctl.get_toxic("p", "ok")["attributes"]["latency"] == 1
    with connect(listen) as sock:
        round_trip(sock)


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
