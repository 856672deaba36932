"""First use, as a new user would (issue 19): the package from a wheel in a fresh venv, one first test file
(``exec_client`` runs ``echo hi``), run by ``pytest`` with nothing else set up, on each kind of machine:

- (a) root without bubblewrap, the venv and its Python under ``/root`` (mode 0700): the server runs as
  ``nobody`` in a private mount namespace that makes them reachable;
- (b) a non-root user with bubblewrap; (c) the same user without it;
- a venv that is itself a 0700 folder (nothing can make it reachable): the session stops once, before
  any test, with the fixes named, and no test reports an error.

bubblewrap is hidden in a private mount namespace (``/dev/null`` bound over it); the user comes from
``useradd``. Each case skips saying why when this machine cannot make it (not root, no ``unshare``...).
The shipped suites in full, in the same three cases, are in ``test_first_use_full.py``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.firstuse.conftest import UserVenv, project
from tests.firstuse.kit import as_user, bwrap_usable_by_user, make_venv, run, without_bwrap

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root: makes users and mount namespaces")


def pytest_argv(python: Path) -> list[str]:
    return [str(python), "-m", "pytest", "-p", "no:cacheprovider", "-rA", "test_first.py"]


def assert_passed(done: subprocess.CompletedProcess[str]) -> None:
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "2 passed" in done.stdout


@pytest.fixture
def root_home_dir() -> Iterator[Path]:
    """A fresh folder under root's home (0700, like /root itself)."""
    base = Path(tempfile.mkdtemp(prefix="execserver-firstuse-", dir=Path.home()))
    yield base
    shutil.rmtree(base, ignore_errors=True)


def test_root_without_bwrap_venv_and_python_under_root_pass(root_home_dir: Path, wheel: Path) -> None:
    python = str(Path(sys.base_prefix) / "bin" / "python3")  # this machine's own interpreter (pyenv: /root/...)
    venv = make_venv(root_home_dir / "venv", python, wheel)
    done = run(without_bwrap(pytest_argv(venv)), project(root_home_dir / "project"))
    assert_passed(done)
    assert "confinement=unprivileged-user (bubblewrap not found" in done.stdout


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["one-process", "xdist"])
def test_root_with_a_venv_nobody_can_reach_stops_once_with_the_fixes(
    tmp_path: Path, wheel: Path, workers: list[str]
) -> None:
    venv_dir = Path(tempfile.mkdtemp(prefix="execserver-venv-"))  # the venv itself is the 0700 folder
    try:
        venv = make_venv(venv_dir, str(Path(sys.base_prefix) / "bin" / "python3"), wheel)
        done = run(without_bwrap([*pytest_argv(venv), *workers]), project(tmp_path / "project"))
    finally:
        shutil.rmtree(venv_dir, ignore_errors=True)
    assert done.returncode == pytest.ExitCode.USAGE_ERROR, done.stdout[-2000:] + done.stderr[-2000:]
    assert done.stderr.count("ERROR: pytest-execserver:") == 1, done.stderr
    message = done.stderr
    assert f"'nobody' cannot use {venv_dir}: mode drwx------" in message
    for fix in ("python -m pytest_execserver install bubblewrap", "non-root user", "move the virtualenv",
                "--execserver-unconfined"):
        assert fix in message
    assert "PASSED" not in done.stdout and "ERROR at setup" not in done.stdout and "error" not in done.stdout


def test_non_root_with_bwrap_passes(user_venv: UserVenv) -> None:
    why_not = bwrap_usable_by_user(user_venv.project)
    if why_not:
        pytest.skip(why_not)
    done = run(as_user(pytest_argv(user_venv.python), user_venv.project, user_venv.cache), user_venv.project)
    assert_passed(done)
    assert "confinement=bwrap (" in done.stdout


def test_non_root_without_bwrap_passes(user_venv: UserVenv) -> None:
    """Nothing installed: no bubblewrap, and the embedded Toxiproxy (under /usr/bin/python3: Debian 12's
    3.11.2 once lost handshakes there, see tests/toxiproxy/test_early_data.py)."""
    argv = [*pytest_argv(user_venv.python), "--execserver-toxiproxy", "embedded"]
    done = run(without_bwrap(as_user(argv, user_venv.project, user_venv.cache)), user_venv.project)
    assert_passed(done)
    assert "confinement=unprivileged-user (bubblewrap not found" in done.stdout
    assert "toxiproxy=embedded" in done.stdout
