"""Confinement really confines: a confined command can write its scratch directory and nothing else."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from pytest_execserver.servers.confine import (
    Confinement,
    ConfinementError,
    bwrap_path,
    choose_confinement,
    confine,
)


def _run(argv: list[str], scratch: Path, confinement: Confinement) -> subprocess.CompletedProcess[bytes]:
    command = confine(argv, scratch, confinement=confinement)
    return subprocess.run(
        command.argv,
        cwd=command.cwd,
        env=command.env,
        preexec_fn=command.preexec,
        capture_output=True,
        timeout=30,
        check=False,
    )


def _available() -> list[Confinement]:
    kinds = [Confinement.UNPRIVILEGED_USER]
    if bwrap_path() is not None:
        kinds.insert(0, Confinement.BWRAP)
    return kinds


@pytest.fixture(params=_available(), ids=lambda c: c.value)
def confinement(request: pytest.FixtureRequest) -> Confinement:
    kind: Confinement = request.param
    if kind is Confinement.UNPRIVILEGED_USER and os.geteuid() != 0:
        pytest.skip("the unprivileged-user fallback only drops privileges when started as root")
    return kind


def test_canary_outside_scratch_cannot_be_written(tmp_path: Path, confinement: Confinement) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    canary = outside / "canary"
    result = _run(["/bin/sh", "-c", f"echo pwned > {canary}"], scratch, confinement)
    assert result.returncode != 0
    assert not canary.exists()


def test_scratch_is_writable_cwd_and_home(tmp_path: Path, confinement: Confinement) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    result = _run(["/bin/sh", "-c", 'echo ok > inside && echo "$HOME" && pwd'], scratch, confinement)
    assert result.returncode == 0, result.stderr
    home, cwd = result.stdout.decode().split()
    assert home == str(scratch.resolve())
    assert cwd == str(scratch.resolve())
    assert (scratch / "inside").read_text() == "ok\n"


def test_host_secrets_are_not_passed_to_the_server(
    tmp_path: Path, confinement: Confinement, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "do-not-leak")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    result = _run(["/bin/sh", "-c", "env"], scratch, confinement)
    assert b"do-not-leak" not in result.stdout


@pytest.mark.skipif(bwrap_path() is None, reason="bubblewrap not installed")
def test_bwrap_is_preferred_and_opt_out_is_explicit() -> None:
    assert choose_confinement() is Confinement.BWRAP
    assert choose_confinement(unconfined=True) is Confinement.NONE


def test_bwrap_selected_without_binary_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ConfinementError, match="bwrap"):
        confine(["/bin/true"], tmp_path / "s", confinement=Confinement.BWRAP)


def test_tmp_stays_private_and_writable_when_the_server_lives_under_it() -> None:
    """A CI clone under /tmp: /tmp is still a private tmpfs (codex's own sandbox writes there), and the
    clone's top folder is bound back read-only after it, so the interpreter stays visible."""
    from pytest_execserver.servers.confine import _private_dirs

    args = _private_dirs(["/tmp/ci-clone-xyz/.venv/bin/python"])
    tmpfs = args.index("/tmp") - 1
    assert args[tmpfs] == "--tmpfs"
    bind = args.index("/tmp/ci-clone-xyz")
    assert args[bind - 1] == "--ro-bind" and args[bind + 1] == "/tmp/ci-clone-xyz"
    assert bind > tmpfs
    assert args[args.index("/run") - 1 : args.index("/run") + 1] == ["--tmpfs", "/run"]
