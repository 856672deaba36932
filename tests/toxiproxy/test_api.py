"""API compatibility: statuses, JSON shapes and error bodies, on every available backend."""

from __future__ import annotations

import contextlib
import json
import urllib.error
import urllib.request
from typing import Any

import pytest

from pytest_execserver.faults.toxi import ToxiproxyControl, ToxiproxyError
from tests.toxiproxy.toxi_helpers import TcpServer, connect, round_trip


def raw(
    control: ToxiproxyControl, method: str, path: str, body: bytes | None = None
) -> tuple[int, str, bytes]:
    """A request without the wrapper: status, content type and body exactly as sent."""
    request = urllib.request.Request(control.url + path, data=body, method=method)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.headers.get("Content-Type", ""), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Content-Type", ""), exc.read()


def error_of(body: bytes) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(body)
    return data


def test_version(toxi: ToxiproxyControl) -> None:
    status, ctype, body = raw(toxi, "GET", "/version")
    assert status == 200
    assert ctype.startswith("application/json")
    assert json.loads(body)["version"].startswith("2.")


def test_proxy_lifecycle(toxi: ToxiproxyControl, echo_server: TcpServer) -> None:
    status, ctype, body = raw(
        toxi,
        "POST",
        "/proxies",
        json.dumps({"name": "p", "upstream": echo_server.address, "listen": "127.0.0.1:0"}).encode(),
    )
    assert status == 201 and ctype.startswith("application/json")
    proxy = json.loads(body)
    assert list(proxy) == ["name", "listen", "upstream", "enabled", "Logger", "toxics"]  # Go's stray Logger
    assert proxy["enabled"] is True and proxy["toxics"] == []
    assert proxy["listen"].startswith("127.0.0.1:") and not proxy["listen"].endswith(":0")
    assert toxi.get_proxy("p") == proxy
    assert toxi.proxies() == {"p": proxy}
    with connect(proxy["listen"]) as sock:
        round_trip(sock, b"hello")

    status, _, body = raw(
        toxi, "POST", "/proxies", json.dumps({"name": "p", "upstream": echo_server.address}).encode()
    )
    assert (status, error_of(body)) == (409, {"error": "proxy already exists", "status": 409})

    assert raw(toxi, "DELETE", "/proxies/p")[:1] == (204,)
    status, ctype, body = raw(toxi, "GET", "/proxies/p")
    assert (status, error_of(body)) == (404, {"error": "proxy not found", "status": 404})
    assert raw(toxi, "DELETE", "/proxies/p")[0] == 404
    assert toxi.proxies() == {}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"upstream": "127.0.0.1:1"}, "missing required field: name"),
        ({"name": "x"}, "missing required field: upstream"),
    ],
)
def test_proxy_missing_fields(toxi: ToxiproxyControl, body: dict[str, str], message: str) -> None:
    status, _, data = raw(toxi, "POST", "/proxies", json.dumps(body).encode())
    assert (status, error_of(data)) == (400, {"error": message, "status": 400})


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"{",
        b"not json",
        b'{"name": 5, "upstream": "127.0.0.1:1"}',
        b'{"name": "x", "upstream": "127.0.0.1:1", "enabled": "yes"}',
    ],
)
def test_proxy_bad_body(toxi: ToxiproxyControl, body: bytes) -> None:
    status, _, data = raw(toxi, "POST", "/proxies", body)
    assert status == 400
    assert error_of(data)["error"].startswith("bad request body: ")
    assert toxi.proxies() == {}


def test_toxic_crud(toxi: ToxiproxyControl, echo_server: TcpServer) -> None:
    toxi.create_proxy("p", echo_server.address)
    status, ctype, body = raw(
        toxi,
        "POST",
        "/proxies/p/toxics",
        json.dumps({"type": "latency", "attributes": {"latency": 10}}).encode(),
    )
    assert status == 200 and ctype.startswith("application/json")
    toxic = json.loads(body)
    assert toxic == {
        "attributes": {"latency": 10, "jitter": 0},
        "name": "latency_downstream",
        "type": "latency",
        "stream": "downstream",
        "toxicity": 1,
    }
    assert toxi.toxics("p") == [toxic]
    assert toxi.get_toxic("p", "latency_downstream") == toxic
    assert toxi.get_proxy("p")["toxics"] == [toxic]

    status, _, body = raw(
        toxi,
        "POST",
        "/proxies/p/toxics",
        json.dumps({"type": "latency", "attributes": {"latency": 10}}).encode(),
    )
    assert (status, error_of(body)) == (409, {"error": "toxic already exists", "status": 409})

    updated = toxi.update_toxic("p", "latency_downstream", {"jitter": 5}, toxicity=0.5)
    assert updated["attributes"] == {"latency": 10, "jitter": 5} and updated["toxicity"] == 0.5

    up = toxi.add_toxic("p", "timeout", {"timeout": 0}, stream="upstream", name="t")
    assert up["stream"] == "upstream"
    assert [t["name"] for t in toxi.toxics("p")] == ["t", "latency_downstream"]  # upstream chain first

    assert raw(toxi, "DELETE", "/proxies/p/toxics/t")[0] == 204
    status, _, body = raw(toxi, "DELETE", "/proxies/p/toxics/t")
    assert (status, error_of(body)) == (404, {"error": "toxic not found", "status": 404})
    status, _, body = raw(toxi, "GET", "/proxies/p/toxics/t")
    assert (status, error_of(body)) == (404, {"error": "toxic not found", "status": 404})
    status, _, body = raw(toxi, "POST", "/proxies/p/toxics/t", b"{}")
    assert status == 404
    status, _, body = raw(toxi, "GET", "/proxies/nope/toxics")
    assert (status, error_of(body)) == (404, {"error": "proxy not found", "status": 404})


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"type": "nonsense"}, 400, "invalid toxic type"),
        ({}, 400, "invalid toxic type"),
        (
            {"type": "latency", "stream": "sideways"},
            400,
            "stream was invalid, can be either upstream or downstream",
        ),
    ],
)
def test_toxic_rejected(
    toxi: ToxiproxyControl, echo_server: TcpServer, body: dict[str, Any], status: int, message: str
) -> None:
    toxi.create_proxy("p", echo_server.address)
    got, _, data = raw(toxi, "POST", "/proxies/p/toxics", json.dumps(body).encode())
    assert (got, error_of(data)) == (status, {"error": message, "status": status})
    assert toxi.toxics("p") == []


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"{]",
        b'{"type": "latency", "attributes": {"latency": "10"}}',
        b'{"type": "latency", "attributes": {"latency": 1.5}}',
        b'{"type": "latency", "toxicity": "high"}',
        b'{"type": "latency", "attributes": 7}',
    ],
)
def test_toxic_bad_body(toxi: ToxiproxyControl, echo_server: TcpServer, body: bytes) -> None:
    proxy = toxi.create_proxy("p", echo_server.address)
    status, ctype, data = raw(toxi, "POST", "/proxies/p/toxics", body)
    assert status == 400 and ctype.startswith("text/plain")
    assert error_of(data)["error"].startswith("bad request body: ")
    with connect(proxy["listen"]) as sock:  # the proxy keeps serving
        round_trip(sock)


def test_populate(toxi: ToxiproxyControl, echo_server: TcpServer) -> None:
    body = [
        {"name": "a", "upstream": echo_server.address, "listen": "127.0.0.1:0"},
        {"name": "b", "upstream": echo_server.address, "listen": "127.0.0.1:0", "enabled": False},
    ]
    status, _, data = raw(toxi, "POST", "/populate", json.dumps(body).encode())
    assert status == 201
    proxies = json.loads(data)["proxies"]
    assert [(p["name"], p["enabled"]) for p in proxies] == [("a", True), ("b", False)]
    assert sorted(toxi.proxies()) == ["a", "b"]
    status, _, data = raw(toxi, "POST", "/populate", json.dumps([{"name": "c"}]).encode())
    assert status == 400
    assert error_of(data)["error"] == "missing required field: upstream at proxy 1"
    assert "c" not in toxi.proxies()


def test_reset_enables_and_clears(toxi: ToxiproxyControl, echo_server: TcpServer) -> None:
    toxi.create_proxy("p", echo_server.address)
    toxi.add_toxic("p", "latency", {"latency": 1000})
    toxi.disable("p")
    assert toxi.get_proxy("p")["enabled"] is False
    assert raw(toxi, "POST", "/reset")[0] == 204
    proxy = toxi.get_proxy("p")
    assert proxy["enabled"] is True and proxy["toxics"] == []
    with connect(proxy["listen"]) as sock:
        assert round_trip(sock) < 0.5


def test_disable_enable_reuses_port(toxi: ToxiproxyControl, echo_server: TcpServer) -> None:
    listen = toxi.create_proxy("p", echo_server.address)["listen"]
    sock = connect(listen)
    round_trip(sock)
    assert toxi.disable("p")["listen"] == listen
    sock.settimeout(3)
    with contextlib.suppress(ConnectionResetError):
        assert sock.recv(10) == b""  # open connections are closed
    sock.close()
    with pytest.raises(OSError):
        connect(listen, timeout=1).close()
    assert toxi.enable("p")["listen"] == listen
    with connect(listen) as again:
        round_trip(again)


def test_unknown_route_and_method(toxi: ToxiproxyControl) -> None:
    assert raw(toxi, "GET", "/nope")[0] == 404
    assert raw(toxi, "PUT", "/proxies")[0] == 405


def test_wrapper_errors(toxi: ToxiproxyControl, echo_server: TcpServer) -> None:
    with pytest.raises(ToxiproxyError) as info:
        toxi.get_proxy("missing")
    assert (info.value.status, info.value.message) == (404, "proxy not found")
    toxi.create_proxy("p", echo_server.address)
    with pytest.raises(ToxiproxyError) as info:
        toxi.create_proxy("p", echo_server.address)
    assert info.value.status == 409
    with pytest.raises(ToxiproxyError) as info:
        toxi.add_toxic("p", "bogus")
    assert (info.value.status, info.value.message) == (400, "invalid toxic type")


def test_toxiproxy_python_client(toxi: ToxiproxyControl, echo_server: TcpServer) -> None:
    """The stock toxiproxy-python client works against the server unchanged."""
    from toxiproxy.api import APIConsumer

    from toxiproxy import Toxiproxy  # type: ignore[attr-defined]

    host, port = toxi.url.removeprefix("http://").rsplit(":", 1)
    saved = (APIConsumer.host, APIConsumer.port)
    try:
        client = Toxiproxy()
        client.update_api_consumer(host, int(port))
        proxy = client.create(upstream=echo_server.address, name="py")
        proxy.add_toxic(type="latency", attributes={"latency": 5})
        assert list(proxy.toxics()) == ["latency_downstream"]
        assert client.get_proxy("py").listen == proxy.listen
        proxy.destroy_toxic("latency_downstream")
        with proxy.down():
            assert client.get_proxy("py").enabled is False
        assert client.get_proxy("py").enabled is True
        proxy.destroy()
        assert client.proxies() == {}
    finally:
        APIConsumer.host, APIConsumer.port = saved
