"""Drive Toxiproxy (embedded ``pytoxiproxy`` or the real ``toxiproxy-server``) through its HTTP API.

``ToxiproxyControl`` sends every request through toxiproxy-python's ``APIConsumer``, wrapped so that
client's sharp edges never reach a user: its host/port are class attributes shared process-wide (we use a
subclass per control, so two servers can be driven at once), its calls have no timeout (we pass one on
every request), and its higher layers turn a 500 into ``KeyError`` (we check every status ourselves and
raise :class:`ToxiproxyError`).
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import requests
from toxiproxy.api import APIConsumer
from toxiproxy.exceptions import InvalidToxic, NotFound, ProxyExists

from pytest_execserver.faults.backend import Backend, BackendChoiceError, select_backend
from pytest_execserver.servers.lifetime import die_with_parent

_ADDRESS_RE = re.compile(r'"address":\s*"([^"]+)".*Starting Toxiproxy HTTP server')


class ToxiproxyError(RuntimeError):
    """The API answered with an error (``status`` 0 when the server could not be reached)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"toxiproxy {status}: {message}")
        self.status = status
        self.message = message


def _error_message(raw: Any, fallback: str = "") -> str:
    """The ``error`` member of a Toxiproxy error body, else the body as text."""
    text = raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)
    try:
        return str(json.loads(text)["error"])
    except (ValueError, KeyError, TypeError):
        return text.strip() or fallback


class ToxiproxyControl:
    """A typed client for one Toxiproxy server's HTTP API (every call has a timeout)."""

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        parsed = urllib.parse.urlsplit(self.url)
        if parsed.scheme != "http" or not parsed.hostname or parsed.port is None:
            raise ToxiproxyError(0, f"not a Toxiproxy API URL (http://HOST:PORT): {url!r}")
        # A subclass of its own: toxiproxy-python keeps host and port on the class, shared process-wide.
        self._consumer: Any = type("Consumer", (APIConsumer,), {"host": parsed.hostname, "port": parsed.port})

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        send = {"GET": self._consumer.get, "POST": self._consumer.post, "DELETE": self._consumer.delete}[method]
        kwargs: dict[str, Any] = {"timeout": self.timeout, "headers": {"User-Agent": "pytest-execserver"}}
        if body is not None:
            kwargs["json"] = body
        try:
            response = send(path, **kwargs)
        except (ProxyExists, NotFound, InvalidToxic) as exc:
            status = {ProxyExists: 409, NotFound: 404, InvalidToxic: 400}[type(exc)]
            raise ToxiproxyError(status, _error_message(exc.args[0] if exc.args else b"")) from None
        except requests.RequestException as exc:
            raise ToxiproxyError(0, f"cannot reach {self.url}: {exc}") from None
        if response.status_code >= 400:
            raise ToxiproxyError(response.status_code, _error_message(response.content, response.reason))
        raw: bytes = response.content
        return json.loads(raw) if raw.strip() else None

    # -- server -------------------------------------------------------------------------------------
    def version(self) -> str:
        return str(self._call("GET", "/version")["version"])

    def reset(self) -> None:
        """Enable every proxy and remove every toxic."""
        self._call("POST", "/reset")

    def populate(self, proxies: list[dict[str, Any]]) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("POST", "/populate", proxies)["proxies"] or []
        return result

    # -- proxies ------------------------------------------------------------------------------------
    def proxies(self) -> dict[str, dict[str, Any]]:
        result: dict[str, dict[str, Any]] = self._call("GET", "/proxies")
        return result

    def create_proxy(
        self, name: str, upstream: str, listen: str = "127.0.0.1:0", enabled: bool = True
    ) -> dict[str, Any]:
        body = {"name": name, "upstream": upstream, "listen": listen, "enabled": enabled}
        result: dict[str, Any] = self._call("POST", "/proxies", body)
        return result

    def get_proxy(self, name: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", f"/proxies/{name}")
        return result

    def update_proxy(self, name: str, **fields: Any) -> dict[str, Any]:
        result: dict[str, Any] = self._call("POST", f"/proxies/{name}", fields)
        return result

    def disable(self, name: str) -> dict[str, Any]:
        """Take the proxy down: stop listening and drop its connections."""
        return self.update_proxy(name, enabled=False)

    def enable(self, name: str) -> dict[str, Any]:
        return self.update_proxy(name, enabled=True)

    def destroy_proxy(self, name: str) -> None:
        self._call("DELETE", f"/proxies/{name}")

    # -- toxics -------------------------------------------------------------------------------------
    def toxics(self, proxy: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", f"/proxies/{proxy}/toxics")
        return result

    def add_toxic(
        self,
        proxy: str,
        type: str,
        attributes: dict[str, Any] | None = None,
        *,
        name: str | None = None,
        stream: str = "downstream",
        toxicity: float = 1.0,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": type,
            "stream": stream,
            "toxicity": toxicity,
            "attributes": attributes or {},
        }
        if name is not None:
            body["name"] = name
        result: dict[str, Any] = self._call("POST", f"/proxies/{proxy}/toxics", body)
        return result

    def get_toxic(self, proxy: str, name: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", f"/proxies/{proxy}/toxics/{name}")
        return result

    def update_toxic(
        self, proxy: str, name: str, attributes: dict[str, Any] | None = None, toxicity: float | None = None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {}
        if attributes is not None:
            body["attributes"] = attributes
        if toxicity is not None:
            body["toxicity"] = toxicity
        result: dict[str, Any] = self._call("POST", f"/proxies/{proxy}/toxics/{name}", body)
        return result

    def remove_toxic(self, proxy: str, name: str) -> None:
        self._call("DELETE", f"/proxies/{proxy}/toxics/{name}")


# -- choosing and starting a server -------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ToxiproxyServer:
    """A running Toxiproxy (or an external URL); ``stop()`` kills its process group."""

    backend: Backend
    url: str
    log_path: Path | None = None
    popen: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    version: str | None = None  # what the running server's GET /version answered

    @property
    def control(self) -> ToxiproxyControl:
        return ToxiproxyControl(self.url)

    def log_tail(self, limit: int = 4000) -> str:
        if self.log_path is None:
            return ""
        try:
            return self.log_path.read_text(errors="replace")[-limit:]
        except OSError:
            return ""

    def stop(self, grace_s: float = 2.0) -> None:
        popen = self.popen
        if popen is None or popen.poll() is not None:
            return
        for sig, wait in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(popen.pid, sig)
            except ProcessLookupError:
                break
            try:
                popen.wait(wait)
                break
            except subprocess.TimeoutExpired:
                continue

    def __enter__(self) -> ToxiproxyServer:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def start_toxiproxy(
    choice: str = "auto", *, log_dir: Path | None = None, seed: int | None = None, timeout: float = 15.0
) -> ToxiproxyServer:
    """Start the chosen server on 127.0.0.1 (port 0 for embedded) and wait until GET /version answers."""
    try:
        backend = select_backend(choice)
    except BackendChoiceError as exc:
        raise ToxiproxyError(0, str(exc)) from None
    if backend.kind == "url":
        assert backend.url is not None
        server = ToxiproxyServer(backend, backend.url)
        _wait_ready(server, timeout)
        return server
    log_dir = log_dir or Path(tempfile.mkdtemp(prefix="toxiproxy-"))
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"toxiproxy-{backend.kind}-{os.getpid()}-{time.monotonic_ns()}.log"
    extra = ["-seed", str(seed)] if seed is not None else []
    if backend.kind == "embedded":
        argv = [sys.executable, "-m", "pytoxiproxy", "-host", "127.0.0.1", "-port", "0", *extra]
        url = ""
    else:
        assert backend.binary is not None
        port = _free_port()
        argv = [backend.binary, "-host", "127.0.0.1", "-port", str(port), *extra]
        url = f"http://127.0.0.1:{port}"
    with open(log_path, "wb") as log:
        popen = subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
            preexec_fn=die_with_parent,
        )
    server = ToxiproxyServer(backend, url, log_path, popen)
    try:
        if not url:
            server.url = _read_address(server, timeout)
        _wait_ready(server, timeout)
    except BaseException:
        server.stop()
        raise
    return server


def _read_address(server: ToxiproxyServer, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        match = _ADDRESS_RE.search(server.log_tail(100_000))
        if match:
            return "http://" + match.group(1)
        if server.popen is not None and server.popen.poll() is not None:
            break
        time.sleep(0.02)
    raise ToxiproxyError(0, f"toxiproxy did not report its address; log:\n{server.log_tail()}")


def _wait_ready(server: ToxiproxyServer, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    control = ToxiproxyControl(server.url, timeout=1.0)
    while True:
        try:
            server.version = control.version()
            return
        except ToxiproxyError as exc:
            if server.popen is not None and server.popen.poll() is not None:
                raise ToxiproxyError(0, f"toxiproxy exited; log:\n{server.log_tail()}") from None
            if time.monotonic() > deadline:
                message = f"toxiproxy not ready: {exc.message}; log:\n{server.log_tail()}"
                raise ToxiproxyError(0, message) from None
            time.sleep(0.05)
