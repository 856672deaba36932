"""Which Toxiproxy a session uses: the one decision the fixtures, the header, the reports and ``doctor`` share.

Light on purpose (no ``requests``, no toxiproxy-python): the plugin's header imports it.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from dataclasses import dataclass

from pytest_execserver.faults.install_toxiproxy import cached_binary, cached_binary_path

REAL_BINARY = "toxiproxy-server"


class BackendChoiceError(ValueError):
    """The real binary was asked for and is not installed, or the choice is not a known backend."""


@dataclass(frozen=True)
class Backend:
    """Which Toxiproxy to use: ``embedded``, ``real`` (with its binary path) or an existing ``url``."""

    kind: str
    binary: str | None = None
    url: str | None = None


def real_binary() -> str | None:
    """The real ``toxiproxy-server``: the one ``./run`` installed into the cache, else the first on PATH."""
    cached = cached_binary()
    return str(cached) if cached is not None else shutil.which(REAL_BINARY)


def select_backend(choice: str = "auto") -> Backend:
    """``auto`` (the real binary, cached or on PATH, else embedded), ``embedded``, ``real`` or an http:// URL."""
    if choice.startswith(("http://", "https://")):
        return Backend("url", url=choice.rstrip("/"))
    if choice == "embedded":
        return Backend("embedded")
    if choice not in ("auto", "real"):
        raise BackendChoiceError(f"unknown toxiproxy backend {choice!r}: use auto, embedded, real or a URL")
    binary = real_binary()
    if choice == "auto":
        return Backend("real", binary=binary) if binary else Backend("embedded")
    if binary is None:
        raise BackendChoiceError(
            f"{REAL_BINARY} is not installed: not in the cache ({cached_binary_path()}, installed by "
            f"`python -m pytest_execserver install toxiproxy`, which needs Go) nor on PATH"
        )
    return Backend("real", binary=binary)


def binary_version(binary: str) -> str | None:
    """What ``toxiproxy-server -version`` prints (``2.12.0``), or None when it cannot be run."""
    try:
        stat = os.stat(binary)
    except OSError:
        return None
    return _version(binary, stat.st_mtime_ns)


@functools.lru_cache(maxsize=8)
def _version(binary: str, _mtime_ns: int) -> str | None:
    try:
        done = subprocess.run([binary, "-version"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    words = (done.stdout + done.stderr).split()
    return words[-1].removeprefix("v") if done.returncode == 0 and words else None
