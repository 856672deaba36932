"""Install the real ``toxiproxy-server`` into the project's cache with ``go install`` (the one version pin).

``python -m pytest_execserver.faults.install_toxiproxy`` (what ``./run`` calls) builds
``github.com/Shopify/toxiproxy/v2/cmd/server@TOXIPROXY_VERSION`` into
``<cache>/toxiproxy-<version>/toxiproxy-server``. A cached binary is reused without touching Go or the
network; a missing Go toolchain is reported in one clear line (exit status 0: the harness then falls
back to the embedded server, and the tests that need the real one skip saying why).
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pytest_execserver.servers.codex import cache_dir

#: The pinned release: the newest tag the Go module proxy serves (``go list -m -versions`` lists only
#: some; ``curl https://proxy.golang.org/github.com/!shopify/toxiproxy/v2/@v/vX.Y.Z.info`` confirms one).
TOXIPROXY_VERSION = "v2.12.0"
TOXIPROXY_MODULE = "github.com/Shopify/toxiproxy/v2"
BINARY_NAME = "toxiproxy-server"
# Release builds stamp the version with this flag (goreleaser); without it `/version` answers "git".
_LDFLAGS = f"-X {TOXIPROXY_MODULE}.Version={TOXIPROXY_VERSION.removeprefix('v')}"


class ToxiproxyUnavailable(RuntimeError):
    """The real server is not installed and cannot be installed here; the message says why."""


def cached_binary_path() -> Path:
    """Where ``./run`` installs the pinned ``toxiproxy-server``."""
    return cache_dir() / f"toxiproxy-{TOXIPROXY_VERSION.removeprefix('v')}" / BINARY_NAME


def cached_binary() -> Path | None:
    """The installed pinned binary, or None."""
    path = cached_binary_path()
    return path if os.access(path, os.X_OK) else None


def install(go: str | None = None, timeout: float = 900.0) -> Path:
    """Return the cached binary, building it with ``go install`` first if needed (idempotent, locked)."""
    target = cached_binary_path()
    if cached_binary() is not None:
        return target
    go = go or shutil.which("go")
    if go is None:
        raise ToxiproxyUnavailable(
            f"Go is not installed, so the real {BINARY_NAME} {TOXIPROXY_VERSION} cannot be built "
            f"(install Go >= 1.23, or put a {BINARY_NAME} on PATH); using the embedded Toxiproxy"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two ./run at once: the second waits, then finds the binary
        if cached_binary() is not None:
            return target
        with tempfile.TemporaryDirectory(dir=target.parent) as gobin:
            argv = [go, "install", "-ldflags", _LDFLAGS, f"{TOXIPROXY_MODULE}/cmd/server@{TOXIPROXY_VERSION}"]
            env = {**os.environ, "GOBIN": gobin, "CGO_ENABLED": "0"}
            try:
                subprocess.run(argv, env=env, check=True, capture_output=True, timeout=timeout)
            except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
                detail = (getattr(exc, "stderr", b"") or b"").decode(errors="replace")[-800:]
                raise ToxiproxyUnavailable(f"{' '.join(argv)} failed: {exc}\n{detail}") from exc
            built = Path(gobin) / "server"  # go install names the binary after its directory
            if not built.is_file():
                raise ToxiproxyUnavailable(f"go install produced no {built.name} in {gobin}")
            built.replace(target)
    return target


def main(argv: list[str] | None = None) -> int:
    """Install (if needed) and print the binary path.

    Exit status 0 when installed or when Go is missing (said on stderr: the fallback is documented),
    1 when Go is there but the build failed (a real problem to look at).
    """
    del argv
    started = time.monotonic()
    try:
        path = install()
    except ToxiproxyUnavailable as exc:
        print(f"toxiproxy: {exc}", file=sys.stderr)
        return 0 if shutil.which("go") is None else 1
    print(f"toxiproxy: {path} ({TOXIPROXY_VERSION}, {time.monotonic() - started:.1f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
