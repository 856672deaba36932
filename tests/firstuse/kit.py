"""Helpers of the first-use tests (issue 19): a wheel in a fresh venv, a user's project, a machine without
bubblewrap (a private mount namespace binds /dev/null over it), a non-root user (``useradd``)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from pytest_execserver.servers.confine import bwrap_installed

ROOT = Path(__file__).resolve().parents[2]
USER = "esuser"
# Development tools of this checkout's venv that a user's venv would not have (and that are big to copy).
_NOT_COPIED = {"mypy", "mypyc", "ruff", "hypothesis", "tox", "virtualenv", "pip", "pytest_benchmark", "__pycache__",
               "pytest_execserver", "execserver_ref", "pytoxiproxy"}
SITE = f"lib/python{sys.version_info.major}.{sys.version_info.minor}/site-packages"


def can(argv: list[str]) -> bool:
    try:
        return subprocess.run(argv, capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def build_wheel(src: Path, out: Path) -> Path:
    """The package's wheel, built from a copy of the sources in ``src`` (the checkout stays clean)."""
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    for name in ("pytest_execserver", "server", "toxiproxy"):
        shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(out),
                    str(src)], check=True, capture_output=True, timeout=300)
    return next(out.glob("pytest_execserver-*.whl"))


def make_venv(where: Path, python: str, wheel: Path) -> Path:
    """A fresh venv at ``where`` from ``python``: the wheel, plus the dependencies copied from this venv
    (no network); returns its ``bin/python``."""
    subprocess.run([python, "-m", "venv", "--without-pip", str(where)], check=True, capture_output=True, timeout=120)
    site = where / SITE
    ours = Path(sys.prefix) / SITE
    for entry in ours.iterdir():
        top = entry.name.split("-")[0].split(".")[0]
        if top in _NOT_COPIED or top.endswith("__mypyc") or entry.name.startswith("__editable__"):
            continue
        if entry.is_dir():
            shutil.copytree(entry, site / entry.name, symlinks=True, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(entry, site / entry.name)
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site)
    return where / "bin" / "python"


def without_bwrap(argv: list[str]) -> list[str]:
    """``argv`` in a private mount namespace where ``bwrap`` is /dev/null (when installed at all)."""
    bwrap = bwrap_installed()
    if bwrap is None:
        return argv
    if not can(["unshare", "-m", "true"]):
        pytest.skip("cannot make a mount namespace here (unshare -m fails) to hide bubblewrap")
    return ["unshare", "-m", "sh", "-c", 'mount --bind /dev/null "$0" && exec "$@"', os.path.realpath(bwrap), *argv]


def as_user(argv: list[str], cwd: Path, cache: Path | None = None) -> list[str]:
    """``argv`` run by ``su`` as the user, in ``cwd``, with ``$EXECSERVER_CACHE`` at ``cache`` if given."""
    command = " ".join(f"'{a}'" for a in argv)
    env = "PATH=/usr/local/bin:/usr/bin:/bin" + (f" EXECSERVER_CACHE='{cache}'" if cache else "")
    return ["su", USER, "-s", "/bin/sh", "-c", f"cd '{cwd}' && {env} exec {command}"]


def bwrap_usable_by_user(cwd: Path) -> str | None:
    """Why bubblewrap cannot be used by the user here, or None when it can."""
    bwrap = bwrap_installed()
    if bwrap is None or not can(as_user([bwrap, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "true"],
                                        cwd)):
        return f"bubblewrap is not usable by a non-root user here ({bwrap or 'not installed'})"
    return None


def run(argv: list[str], cwd: Path, timeout: float = 150) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "PYTHON", "EXECSERVER_", "VIRTUAL_ENV"))}
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def outcomes(stdout: str) -> dict[str, int]:
    """The counts of pytest's last summary line (``3 passed, 1 skipped in 2.0s``): {"passed": 3, ...}."""
    last = [line for line in stdout.splitlines() if re.search(r"\bin [0-9.]+s\b", line)][-1:]
    return {word: int(n) for n, word in re.findall(r"(\d+) (\w+)", last[0])} if last else {}
