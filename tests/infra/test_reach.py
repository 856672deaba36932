"""Who can reach what: the pure rules behind the root-without-bubblewrap fallback, and the bwrap trial."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_execserver.servers import confine
from pytest_execserver.servers.reach import Cover, User, plan

NOBODY = User(65534, 65534)


def _fs(modes: dict[str, tuple[int, int]]) -> object:
    """A fake ``stat``: path -> (mode bits, owner uid); anything not listed is a 0755 root folder."""

    def stat_fn(path: Path) -> os.stat_result:
        mode, uid = modes.get(str(path), (0o755, 0))
        return os.stat_result((stat.S_IFDIR | mode, 0, 0, 2, uid, 0, 0, 0, 0, 0))

    return stat_fn


def test_pyenv_under_root_is_covered_at_root() -> None:
    found = plan([Path("/root/.pyenv/versions/3.11.7"), Path("/work/venv")], [], NOBODY,
                 _fs({"/root": (0o700, 0)}))  # type: ignore[arg-type]
    assert found.covers == (Cover(Path("/root"), (Path("/root/.pyenv/versions/3.11.7"),)),)
    assert found.unreachable == ()


def test_scratch_under_pytest_of_root_is_bound_back_writable() -> None:
    scratch = Path("/tmp/pytest-of-root/pytest-3/s")
    found = plan([Path("/usr")], [scratch], NOBODY,
                 _fs({"/tmp/pytest-of-root": (0o700, 0), str(scratch): (0o755, NOBODY.uid)}))  # type: ignore[arg-type]
    assert found.covers == (Cover(Path("/tmp/pytest-of-root"), (scratch,)),)
    assert found.writable == (scratch,)


def test_only_the_highest_blocked_folder_is_covered_and_nested_trees_merge() -> None:
    found = plan([Path("/root/a/b"), Path("/root/a/b/c"), Path("/root/x")], [], NOBODY,
                 _fs({"/root": (0o700, 0), "/root/a": (0o700, 0)}))  # type: ignore[arg-type]
    assert found.covers == (Cover(Path("/root"), (Path("/root/a/b"), Path("/root/x"))),)


def test_a_venv_that_is_itself_a_0700_folder_cannot_be_fixed_by_a_cover() -> None:
    found = plan([Path("/tmp/tmp.abc")], [], NOBODY, _fs({"/tmp/tmp.abc": (0o700, 0)}))  # type: ignore[arg-type]
    assert found.covers == ()
    assert found.unreachable == ("/tmp/tmp.abc: mode drwx------, owner uid 0",)


def test_nothing_to_do_when_everything_is_world_readable() -> None:
    found = plan([Path("/usr/lib/python3"), Path("/opt/venv")], [], NOBODY, _fs({}))  # type: ignore[arg-type]
    assert found.covers == () and found.unreachable == ()


def test_group_and_owner_bits_apply_to_their_user() -> None:
    fs = _fs({"/srv": (0o710, 0), "/home/u": (0o700, NOBODY.uid)})
    assert plan([Path("/srv/x")], [], User(1000, 0), fs).covers == ()  # type: ignore[arg-type]
    assert plan([Path("/srv/x")], [], NOBODY, fs).covers == (Cover(Path("/srv"), (Path("/srv/x"),)),)  # type: ignore[arg-type]
    assert plan([Path("/home/u/v")], [], NOBODY, fs).covers == ()  # type: ignore[arg-type]


@pytest.fixture
def fake_bwrap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A ``bwrap`` that fails like Ubuntu 24.04's (AppArmor denies the user namespace)."""
    binary = tmp_path / "bwrap"
    binary.write_text("#!/bin/sh\necho 'bwrap: setting up uid map: Permission denied' >&2\nexit 1\n")
    binary.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    confine.bwrap_trial.cache_clear()
    yield binary
    confine.bwrap_trial.cache_clear()


def test_an_installed_but_unusable_bwrap_falls_back_and_says_why(fake_bwrap: Path) -> None:
    assert confine.bwrap_installed() == str(fake_bwrap)
    assert confine.bwrap_path() is None
    kind, why = confine.confinement_report()
    assert kind is confine.Confinement.UNPRIVILEGED_USER
    assert "installed but unusable" in why and "uid map: Permission denied" in why
    brief = confine.confinement_brief()
    assert brief.startswith("unprivileged-user (bubblewrap unusable: ") and "uid map: Permission denied" in brief
    assert brief.endswith("; fix: python -m pytest_execserver doctor)") and len(brief) < 200


def test_a_missing_bwrap_is_named_with_its_fix_in_one_short_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(confine, "bwrap_installed", lambda: None)
    brief = confine.confinement_brief()
    who = ", servers run as 'nobody'" if os.geteuid() == 0 else ""
    fix = "fix: python -m pytest_execserver install bubblewrap"
    assert brief == f"unprivileged-user (bubblewrap not found{who}; {fix})"
    assert confine.confinement_brief(unconfined=True) == "none (--execserver-unconfined)"


@pytest.mark.skipif(confine.bwrap_installed() is None, reason="bubblewrap not installed")
def test_a_usable_bwrap_is_chosen() -> None:
    assert confine.confinement_report() == (
        confine.Confinement.BWRAP, f"bubblewrap {confine.bwrap_installed()} works here")
    assert confine.confinement_brief() == f"bwrap ({confine.bwrap_installed()} works)"
