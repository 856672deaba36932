"""Fetch and cache the real ``codex`` binary (the protocol's ground truth) from the npm registry."""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

CODEX_VERSION = "0.169.0"
CODEX_PACKAGE = f"@openai/codex@{CODEX_VERSION}-linux-x64"
_BINARY_IN_PACKAGE = "package/vendor/x86_64-unknown-linux-musl/bin/codex"


class CodexUnavailable(RuntimeError):
    """The codex binary could not be found or fetched; the message says why."""


def cache_dir() -> Path:
    """Where fetched binaries live: ``$EXECSERVER_CACHE`` or ``~/.cache/pytest-execserver``."""
    root = os.environ.get("EXECSERVER_CACHE")
    return Path(root) if root else Path.home() / ".cache" / "pytest-execserver"


def cached_binary_path() -> Path:
    return cache_dir() / f"codex-{CODEX_VERSION}" / "codex"


def codex_binary(fetch: bool = True) -> Path:
    """Path of a runnable codex binary.

    Order: ``$EXECSERVER_CODEX_BIN`` if set, then the cache, then (if ``fetch``) ``npm pack`` of
    ``@openai/codex@0.169.0-linux-x64`` into the cache. Raises :class:`CodexUnavailable` otherwise.
    """
    explicit = os.environ.get("EXECSERVER_CODEX_BIN")
    if explicit:
        path = Path(explicit)
        if not os.access(path, os.X_OK):
            raise CodexUnavailable(f"EXECSERVER_CODEX_BIN={explicit} is not an executable file")
        return path
    target = cached_binary_path()
    if os.access(target, os.X_OK):
        return target
    if not fetch:
        raise CodexUnavailable(f"codex {CODEX_VERSION} is not cached at {target}")
    return _fetch_into(target)


def _fetch_into(target: Path) -> Path:
    npm = shutil.which("npm")
    if npm is None:
        raise CodexUnavailable("npm is not installed, so codex cannot be fetched from the npm registry")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as work:
        try:
            subprocess.run(
                [npm, "pack", "--silent", CODEX_PACKAGE],
                cwd=work,
                check=True,
                capture_output=True,
                timeout=600,
            )
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
            detail = getattr(exc, "stderr", b"") or b""
            raise CodexUnavailable(
                f"npm pack {CODEX_PACKAGE} failed: {exc}; {detail.decode(errors='replace')[-400:]}"
            ) from exc
        tarballs = list(Path(work).glob("*.tgz"))
        if not tarballs:
            raise CodexUnavailable(f"npm pack {CODEX_PACKAGE} produced no tarball")
        with tarfile.open(tarballs[0]) as tar:
            try:
                member = tar.getmember(_BINARY_IN_PACKAGE)
            except KeyError as exc:
                raise CodexUnavailable(f"{CODEX_PACKAGE} has no {_BINARY_IN_PACKAGE}") from exc
            source = tar.extractfile(member)
            if source is None:
                raise CodexUnavailable(f"{_BINARY_IN_PACKAGE} in {CODEX_PACKAGE} is not a file")
            partial = target.with_suffix(".partial")
            with source, open(partial, "wb") as out:
                shutil.copyfileobj(source, out)
        partial.chmod(0o755)
        partial.replace(target)
    return target


def main() -> int:
    """``python -m pytest_execserver.codex``: fetch (if needed) and print the binary path."""
    try:
        print(codex_binary())
    except CodexUnavailable as exc:
        print(f"codex unavailable: {exc}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
