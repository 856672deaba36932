"""The done-when of issue 19, in full: from the wheel in a fresh venv, the shipped chaos and conformance
suites (``pytest --pyargs pytest_execserver.suites.chaos`` and ``... .suites.conformance``) pass

- (a) as root without bubblewrap, with the venv and the interpreter under ``/root``;
- (b) as a non-root user with bubblewrap;
- (c) as a non-root user without it.

Minutes per case, so marked ``firstuse_full`` and deselected unless ``-m`` names it: ``./run firstuse``
and the nightly workflow run them. Each suite's counts and wall time are printed (``-s`` shows them). The
quick versions of the same cases (a two-test project) are in ``test_first_use.py``, run by default.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.firstuse.conftest import FULL, UserVenv, project
from tests.firstuse.kit import as_user, bwrap_usable_by_user, make_venv, outcomes, run, without_bwrap

SUITES = ("pytest_execserver.suites.chaos", "pytest_execserver.suites.conformance")
SUITE_TIMEOUT_S = 2400.0
pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root: makes users and mount namespaces"),
    getattr(pytest.mark, FULL),
    pytest.mark.timeout(3 * SUITE_TIMEOUT_S),
]


def suite_argv(python: Path, suite: str) -> list[str]:
    return [str(python), "-m", "pytest", "-p", "no:cacheprovider", "-rs", "--pyargs", suite]


def run_suites(case: str, wrap: Callable[[list[str]], list[str]], python: Path, cwd: Path, header: str,
               extra: tuple[str, ...] = ()) -> None:
    """Both suites, each in its own session: every one passes (skips allowed, none failed or in error)."""
    for suite in SUITES:
        started = time.monotonic()
        done = run(wrap([*suite_argv(python, suite), *extra]), cwd, timeout=SUITE_TIMEOUT_S)
        took = time.monotonic() - started
        counts = outcomes(done.stdout)
        print(f"\nfirstuse {case} {suite}: {counts} in {took:.0f} s (exit {done.returncode})")
        print("\n".join(line for line in done.stdout.splitlines() if line.startswith(("SKIPPED", "execserver: "))))
        assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-3000:]
        assert counts.get("passed", 0) > 0 and not counts.get("failed") and not counts.get("error")
        assert header in done.stdout, done.stdout[:2000]


@pytest.fixture
def root_home_dir() -> Iterator[Path]:
    base = Path(tempfile.mkdtemp(prefix="execserver-firstuse-full-", dir=Path.home()))
    yield base
    shutil.rmtree(base, ignore_errors=True)


def test_a_root_without_bwrap_under_root(root_home_dir: Path, wheel: Path) -> None:
    venv = make_venv(root_home_dir / "venv", str(Path(sys.base_prefix) / "bin" / "python3"), wheel)
    run_suites("a", without_bwrap, venv, project(root_home_dir / "project"),
               "confinement=unprivileged-user (bubblewrap not found")


def test_b_non_root_with_bwrap(user_venv: UserVenv) -> None:
    why_not = bwrap_usable_by_user(user_venv.project)
    if why_not:
        pytest.skip(why_not)
    run_suites("b", lambda argv: as_user(argv, user_venv.project, user_venv.cache), user_venv.python,
               user_venv.project, "confinement=bwrap (")


def test_c_non_root_without_bwrap(user_venv: UserVenv) -> None:
    """Nothing installed but codex: no bubblewrap, and the embedded Toxiproxy (under /usr/bin/python3)."""
    run_suites("c", lambda argv: without_bwrap(as_user(argv, user_venv.project, user_venv.cache)),
               user_venv.python, user_venv.project, "confinement=unprivileged-user (bubblewrap not found",
               extra=("--execserver-toxiproxy", "embedded"))
