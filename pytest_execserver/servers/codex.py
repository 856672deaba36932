"""Fetch and cache real ``codex`` binaries (the protocol's ground truth) from the npm registry, per version.

``codex_binary()`` is the default version (the newest one the suite passes on), ``codex_binary("0.169.0")``
a pinned one and ``codex_binary("latest")`` whatever npm's ``latest`` dist-tag names now. Each version is
cached in its own directory, ``<cache>/codex-<version>/codex``. The linux binary ships in the platform
package ``@openai/codex@<version>-linux-x64`` (the plain ``@openai/codex`` package is a node launcher).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

DEFAULT_VERSION = "0.171.0"
CODEX_VERSION = DEFAULT_VERSION  # kept for older imports
NPM_PACKAGE = "@openai/codex"
# The binary finds its executor version (codex-package.json) and its PATH additions (codex-path/) next to
# itself, so the whole platform folder is cached, not the binary alone.
_PLATFORM_IN_PACKAGE = "package/vendor/x86_64-unknown-linux-musl"
_BINARY_IN_PLATFORM = "bin/codex"
_VERSION_RE = re.compile(r"^\d+\.\d+\.\d+(?:-(?:alpha|beta|rc)(?:\.\d+)*)?$")


class CodexUnavailable(RuntimeError):
    """The codex binary could not be found or fetched; the message says why."""


def cache_dir() -> Path:
    """Where fetched binaries live: ``$EXECSERVER_CACHE`` or ``~/.cache/pytest-execserver``."""
    root = os.environ.get("EXECSERVER_CACHE")
    return Path(root) if root else Path.home() / ".cache" / "pytest-execserver"


def platform_package(version: str) -> str:
    """The npm spec of the package holding the linux x64 binary of ``version``."""
    return f"{NPM_PACKAGE}@{version}-linux-x64"


def cached_binary_path(version: str = DEFAULT_VERSION) -> Path:
    """Where ``version``'s binary is (or will be) cached, inside its package's platform folder."""
    return cache_dir() / f"codex-{version}" / "platform" / _BINARY_IN_PLATFORM


def check_version(version: str) -> str:
    """``version`` if it is ``latest`` or a release number such as ``0.171.0``; else :class:`ValueError`."""
    if version == "latest" or _VERSION_RE.match(version):
        return version
    raise ValueError(f"codex version {version!r} is not 'latest' or a release number such as {DEFAULT_VERSION}")


def resolve_version(version: str | None) -> str:
    """The concrete release for ``version``: None is the default, ``latest`` asks the npm registry."""
    if version is None:
        return DEFAULT_VERSION
    if check_version(version) != "latest":
        return version
    npm = _npm()
    try:
        done = subprocess.run(
            [npm, "view", NPM_PACKAGE, "dist-tags.latest"], check=True, capture_output=True, timeout=120
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
        raise CodexUnavailable(f"npm view {NPM_PACKAGE} dist-tags.latest failed: {_detail(exc)}") from exc
    resolved = done.stdout.decode(errors="replace").strip()
    if not _VERSION_RE.match(resolved):
        raise CodexUnavailable(f"npm says the latest {NPM_PACKAGE} is {resolved!r}, which is not a release number")
    return resolved


def codex_binary(version: str | None = None, *, fetch: bool = True) -> Path:
    """Path of a runnable codex binary of ``version`` (None: :data:`DEFAULT_VERSION`; or ``latest``).

    ``$EXECSERVER_CODEX_BIN``, if set, overrides the default version (a version asked for by name is
    always that version). Otherwise the cache, then (if ``fetch``) ``npm pack`` of the platform package.
    Raises :class:`CodexUnavailable` when no binary can be had, :class:`ValueError` for a malformed version.
    """
    explicit = os.environ.get("EXECSERVER_CODEX_BIN")
    if explicit and version is None:
        path = Path(explicit)
        if not os.access(path, os.X_OK):
            raise CodexUnavailable(f"EXECSERVER_CODEX_BIN={explicit} is not an executable file")
        return path
    if version is not None:
        check_version(version)
        if version != "latest" and os.access(cached_binary_path(version), os.X_OK):
            return cached_binary_path(version)
    concrete = resolve_version(version)
    target = cached_binary_path(concrete)
    if os.access(target, os.X_OK):
        return target
    if not fetch:
        raise CodexUnavailable(f"codex {concrete} is not cached at {target}")
    return _fetch_into(concrete, target)


def _npm() -> str:
    npm = shutil.which("npm")
    if npm is None:
        raise CodexUnavailable("npm is not installed, so codex cannot be fetched from the npm registry")
    return npm


def _detail(exc: BaseException) -> str:
    """npm's own error lines (``npm error notarget No matching version ...``), else the exception."""
    raw = getattr(exc, "stderr", b"") or b""
    text = raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    said = [line for line in lines if line.startswith("npm error") and "complete log" not in line]
    return " / ".join(said or lines[-3:]) or str(exc)


def released_versions(limit: int = 5) -> list[str]:
    """The newest ``limit`` plain releases of codex on the npm registry (oldest first); [] if npm cannot say."""
    try:
        done = subprocess.run([_npm(), "view", NPM_PACKAGE, "versions", "--json"], capture_output=True,
                              timeout=60, check=True)
        versions = json.loads(done.stdout)
    except (CodexUnavailable, OSError, subprocess.SubprocessError, ValueError):
        return []
    plain = [v for v in versions if isinstance(v, str) and re.fullmatch(r"\d+\.\d+\.\d+", v)]
    return plain[-limit:]


def _fetch_into(version: str, target: Path) -> Path:
    npm = _npm()
    package = platform_package(version)
    platform = target.parents[1]
    platform.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=platform.parent) as work:
        try:
            subprocess.run([npm, "pack", "--loglevel=error", package], cwd=work, check=True, capture_output=True,
                           timeout=600)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
            known = released_versions()
            hint = f"; the newest releases are {', '.join(known)}" if known else ""
            raise CodexUnavailable(f"npm pack {package} failed: {_detail(exc)}{hint}") from exc
        tarballs = list(Path(work).glob("*.tgz"))
        if not tarballs:
            raise CodexUnavailable(f"npm pack {package} produced no tarball")
        with tarfile.open(tarballs[0]) as tar:
            prefix = _PLATFORM_IN_PACKAGE + "/"
            members = [m for m in tar.getmembers() if m.name.startswith(prefix)]
            if not any(m.name == prefix + _BINARY_IN_PLATFORM for m in members):
                raise CodexUnavailable(f"{package} has no {prefix + _BINARY_IN_PLATFORM}")
            for member in members:
                member.name = member.name[len(prefix):]
            partial = Path(work) / "platform"
            tar.extractall(partial, members=members, filter="data")
        with contextlib.suppress(FileNotFoundError):
            shutil.rmtree(platform)  # an incomplete earlier fetch
        partial.replace(platform)  # atomic: a concurrent fetch of the same version sees a whole tree or none
    return target


def main(argv: list[str] | None = None) -> int:
    """``python -m pytest_execserver.servers.codex [VERSION]``: fetch (if needed) and print the binary path."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) > 1 or (args and args[0] in ("-h", "--help")):
        print("usage: python -m pytest_execserver.servers.codex [VERSION|latest]", file=sys.stderr)
        return 2
    try:
        print(codex_binary(args[0] if args else None))
    except (CodexUnavailable, ValueError) as exc:
        print(f"codex unavailable: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
