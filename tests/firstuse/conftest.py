"""Fixtures of the first-use tests: the wheel (built once per session) and a non-root user's venv.

Tests marked ``firstuse_full`` (the shipped suites, in full, from the wheel: minutes each) are deselected
unless ``-m`` names them: ``./run firstuse`` and the nightly workflow run them.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pytest_execserver.faults.install_toxiproxy import cached_binary_path as toxiproxy_cache_path
from pytest_execserver.servers.codex import cache_dir
from pytest_execserver.servers.codex import cached_binary_path as codex_cache_path
from tests.firstuse.kit import USER, build_wheel, can, make_venv

FULL = "firstuse_full"
FIRST_TESTS = '''
async def test_echo(exec_client, exec_scratch):
    assert (await exec_client.run(["/bin/echo", "hi"], cwd=exec_scratch)).stdout == b"hi\\n"


async def test_echo_again(exec_client, exec_scratch):
    assert (await exec_client.run(["/bin/echo", "again"], cwd=exec_scratch)).stdout == b"again\\n"
'''


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if FULL in (config.option.markexpr or ""):
        return
    full = [item for item in items if item.get_closest_marker(FULL)]
    if full:
        config.hook.pytest_deselected(items=full)
        items[:] = [item for item in items if not item.get_closest_marker(FULL)]


@pytest.fixture(scope="session")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if os.geteuid() != 0:
        pytest.skip("needs root: makes users and mount namespaces")
    return build_wheel(tmp_path_factory.mktemp("src"), tmp_path_factory.mktemp("wheel"))


def project(where: Path) -> Path:
    """A user's project: one test file, no configuration."""
    where.mkdir(parents=True, exist_ok=True)
    (where / "test_first.py").write_text(FIRST_TESTS)
    return where


@dataclass(frozen=True)
class UserVenv:
    """The user's venv (its python), project folder, and cache (``$EXECSERVER_CACHE``: codex, toxiproxy)."""

    python: Path
    project: Path
    cache: Path


def _link_cache(cache: Path) -> None:
    """This machine's codex and real Toxiproxy, hard-linked into the user's own cache (what
    ``python -m pytest_execserver install codex|toxiproxy`` would put there, without the download)."""
    for binary in (codex_cache_path(), toxiproxy_cache_path()):
        if binary.exists():
            top = cache_dir() / binary.relative_to(cache_dir()).parts[0]
            subprocess.run(["cp", "-al", str(top), str(cache / top.name)], check=True, timeout=120)


@pytest.fixture(scope="session")
def user_venv(wheel: Path) -> Iterator[UserVenv]:
    """``esuser`` (made with useradd if missing) with its own venv, project and cache.

    The user's cache holds this machine's codex and real toxiproxy-server (when it has them), as
    ``python -m pytest_execserver install`` would.
    """
    if shutil.which("useradd") is None:
        pytest.skip("useradd is not installed")
    try:
        pwd.getpwnam(USER)
    except KeyError:
        if not can(["useradd", "-m", USER]):
            pytest.skip(f"cannot add a user ({USER}) here")
    python = shutil.which("python3", path="/usr/local/bin:/usr/bin:/bin")
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    if python is None or not can([python, "-c", f"import sys; assert '%d.%d' % sys.version_info[:2] == '{version}'"]):
        pytest.skip(f"no Python {version} outside /root for a non-root user")
    base = Path(tempfile.mkdtemp(prefix="execserver-user-"))
    venv = make_venv(base / "venv", python, wheel)
    proj = project(base / "project")
    user = pwd.getpwnam(USER)
    for path in [base, *base.rglob("*")]:
        os.chown(path, user.pw_uid, user.pw_gid, follow_symlinks=False)
    cache = base / "cache"
    cache.mkdir()
    os.chown(cache, user.pw_uid, user.pw_gid)
    _link_cache(cache)  # after the chown: the links share their inodes (and owner, root) with ours
    yield UserVenv(venv, proj, cache)
    shutil.rmtree(base, ignore_errors=True)
