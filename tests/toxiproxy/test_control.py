"""The harness side: backend selection, server start/stop, and the typed control's errors."""

from __future__ import annotations

import os
import socket
import stat
import time
from pathlib import Path

import pytest

from pytest_execserver.faults.backend import Backend, BackendChoiceError, select_backend
from pytest_execserver.faults.install_toxiproxy import cached_binary_path
from pytest_execserver.faults.toxi import ToxiproxyControl, ToxiproxyError, start_toxiproxy


def _fake_binary(directory: Path) -> Path:
    path = directory / "toxiproxy-server"
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return path


def test_select_backend(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("EXECSERVER_CACHE", str(tmp_path / "cache"))
    assert select_backend("auto") == Backend("embedded")
    assert select_backend("embedded") == Backend("embedded")
    with pytest.raises(BackendChoiceError, match="not installed"):
        select_backend("real")
    with pytest.raises(ToxiproxyError, match="not installed"):
        start_toxiproxy("real")
    assert select_backend("http://127.0.0.1:1/") == Backend("url", url="http://127.0.0.1:1")
    with pytest.raises(ValueError, match="unknown toxiproxy backend"):
        select_backend("bogus")
    binary = _fake_binary(tmp_path)
    assert select_backend("auto") == Backend("real", binary=str(binary))
    assert select_backend("real") == Backend("real", binary=str(binary))
    assert select_backend("embedded") == Backend("embedded")
    cached_binary_path().parent.mkdir(parents=True)
    cached = _fake_binary(cached_binary_path().parent)
    assert select_backend("auto") == Backend("real", binary=str(cached))  # the cache wins over PATH
    assert select_backend("real") == Backend("real", binary=str(cached))


def test_embedded_start_stop_and_url_backend(tmp_path: Path) -> None:
    with start_toxiproxy("embedded", log_dir=tmp_path) as server:
        assert server.url.startswith("http://127.0.0.1:")
        assert server.control.version() == "2.12.0"
        with start_toxiproxy(server.url) as external:  # a URL is used as-is, nothing is started
            assert external.popen is None and external.control.version() == "2.12.0"
        assert server.popen is not None
        pid = server.popen.pid
    assert server.popen.poll() is not None
    with pytest.raises(ProcessLookupError):
        os.killpg(pid, 0)


def test_real_binary_that_dies_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    monkeypatch.setenv("EXECSERVER_CACHE", str(tmp_path / "cache"))
    _fake_binary(tmp_path)
    with pytest.raises(ToxiproxyError, match="exited"):
        start_toxiproxy("real", log_dir=tmp_path / "logs", timeout=5)


def test_unreachable_server() -> None:
    control = ToxiproxyControl("http://127.0.0.1:1", timeout=1)
    with pytest.raises(ToxiproxyError) as info:
        control.version()
    assert info.value.status == 0


def test_two_controls_drive_two_servers_at_once(tmp_path: Path) -> None:
    """toxiproxy-python keeps host/port on a class; the wrapper must not let one control retarget another."""
    with (
        start_toxiproxy("embedded", log_dir=tmp_path / "a") as a,
        start_toxiproxy("embedded", log_dir=tmp_path / "b") as b,
    ):
        a.control.create_proxy("only-on-a", upstream="127.0.0.1:9")
        b.control.create_proxy("only-on-b", upstream="127.0.0.1:9")
        assert set(a.control.proxies()) == {"only-on-a"}
        assert set(b.control.proxies()) == {"only-on-b"}


def test_api_errors_are_typed_with_status_and_message(tmp_path: Path) -> None:
    with start_toxiproxy("embedded", log_dir=tmp_path) as server:
        control = server.control
        control.create_proxy("p", upstream="127.0.0.1:9")
        cases = [
            (lambda: control.create_proxy("p", upstream="127.0.0.1:9"), 409, "proxy already exists"),
            (lambda: control.get_proxy("missing"), 404, "proxy not found"),
            (lambda: control.add_toxic("p", "no-such-toxic"), 400, "invalid toxic type"),
        ]
        for call, status, message in cases:
            with pytest.raises(ToxiproxyError) as info:
                call()
            assert (info.value.status, info.value.message) == (status, message)


def test_a_server_that_hangs_times_out_instead_of_hanging_the_test() -> None:
    with socket.socket() as silent:  # accepts TCP connections (backlog) but never answers HTTP
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        control = ToxiproxyControl(f"http://127.0.0.1:{port}", timeout=0.5)
        started = time.monotonic()
        with pytest.raises(ToxiproxyError) as info:
            control.version()
        assert info.value.status == 0
        assert time.monotonic() - started < 5


def test_non_http_url_is_refused() -> None:
    with pytest.raises(ToxiproxyError, match="not a Toxiproxy API URL"):
        ToxiproxyControl("ws://127.0.0.1:1")
