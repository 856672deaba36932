"""Installing the real toxiproxy-server: pinned version, cache, idempotence, and a clear word without Go."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_execserver.faults import install_toxiproxy
from pytest_execserver.faults.backend import select_backend
from pytest_execserver.faults.install_toxiproxy import (
    TOXIPROXY_VERSION,
    ToxiproxyUnavailable,
    cached_binary_path,
    install,
)
from tests.toxiproxy.conftest import require_real

FAKE_GO = """#!/bin/sh
# records its arguments and GOBIN, then "builds" a binary named after the package directory
printf '%s\\n' "$@" > "{log}"
echo "$GOBIN" >> "{log}"
printf '#!/bin/sh\\necho fake\\n' > "$GOBIN/server"
chmod +x "$GOBIN/server"
"""


def _script(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return path


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("EXECSERVER_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_go_install_of_the_pinned_version_into_the_cache(tmp_path: Path, cache: Path) -> None:
    log = tmp_path / "go.log"
    go = _script(tmp_path / "go", FAKE_GO.format(log=log))
    path = install(go=str(go))
    version = TOXIPROXY_VERSION.removeprefix("v")
    assert path == cached_binary_path() == cache / f"toxiproxy-{version}" / "toxiproxy-server"
    assert os.access(path, os.X_OK)
    argv, gobin = log.read_text().splitlines()[:-1], log.read_text().splitlines()[-1]
    assert argv[0] == "install" and argv[-1] == f"github.com/Shopify/toxiproxy/v2/cmd/server@{TOXIPROXY_VERSION}"
    assert f"-X github.com/Shopify/toxiproxy/v2.Version={version}" in argv  # /version answers it, not "git"
    assert Path(gobin).parent == path.parent and not Path(gobin).exists()  # a temporary GOBIN, removed
    log.unlink()
    assert install(go=str(go)) == path and not log.exists()  # cached: Go is not run again


def test_failed_build_is_reported(tmp_path: Path, cache: Path) -> None:
    go = _script(tmp_path / "go", "#!/bin/sh\necho 'no network' >&2\nexit 1\n")
    with pytest.raises(ToxiproxyUnavailable, match="no network"):
        install(go=str(go))
    assert not cached_binary_path().exists()


def test_without_go_a_clear_message_and_exit_0(tmp_path: Path, cache: Path) -> None:
    env = {**os.environ, "PATH": str(tmp_path), "EXECSERVER_CACHE": str(cache)}
    out = subprocess.run(
        [sys.executable, "-m", "pytest_execserver.faults.install_toxiproxy"],
        env=env, capture_output=True, text=True, timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert out.stderr.startswith("toxiproxy: Go is not installed")
    assert "using the embedded Toxiproxy" in out.stderr


def test_main_prints_the_path(tmp_path: Path, cache: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cached_binary_path().parent.mkdir(parents=True)
    _script(cached_binary_path(), "#!/bin/sh\n")
    assert install_toxiproxy.main() == 0
    assert str(cached_binary_path()) in capsys.readouterr().out


def test_the_installed_binary_is_the_pinned_release() -> None:
    require_real()
    binary = select_backend("real").binary
    assert binary is not None
    out = subprocess.run([binary, "-version"], capture_output=True, text=True, timeout=30)
    assert out.stdout.strip() == f"toxiproxy-server version {TOXIPROXY_VERSION.removeprefix('v')}"
