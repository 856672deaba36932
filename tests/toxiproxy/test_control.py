"""The harness side: backend selection, server start/stop, and the typed control's errors."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from pytest_execserver.toxi import Backend, ToxiproxyControl, ToxiproxyError, select_backend, start_toxiproxy


def _fake_binary(directory: Path) -> Path:
    path = directory / "toxiproxy-server"
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return path


def test_select_backend(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert select_backend("auto") == Backend("embedded")
    assert select_backend("embedded") == Backend("embedded")
    with pytest.raises(ToxiproxyError, match="not on PATH"):
        select_backend("real")
    assert select_backend("http://127.0.0.1:1/") == Backend("url", url="http://127.0.0.1:1")
    with pytest.raises(ValueError, match="unknown toxiproxy backend"):
        select_backend("bogus")
    binary = _fake_binary(tmp_path)
    assert select_backend("auto") == Backend("real", binary=str(binary))
    assert select_backend("real") == Backend("real", binary=str(binary))
    assert select_backend("embedded") == Backend("embedded")


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
    _fake_binary(tmp_path)
    with pytest.raises(ToxiproxyError, match="exited"):
        start_toxiproxy("real", log_dir=tmp_path / "logs", timeout=5)


def test_unreachable_server() -> None:
    control = ToxiproxyControl("http://127.0.0.1:1", timeout=1)
    with pytest.raises(ToxiproxyError) as info:
        control.version()
    assert info.value.status == 0
