"""The shell the reference server reports follows codex's rule (codex 0.171.0, measured as ``nobody``)."""

from __future__ import annotations

import os
import pwd
import shutil

import pytest
from execserver_ref.environment import user_shell


def test_a_login_shell_codex_knows_is_reported_as_is() -> None:
    login = pwd.getpwuid(os.getuid()).pw_shell
    if os.path.basename(login) not in ("bash", "zsh", "sh"):
        pytest.skip(f"this user's login shell is {login}")
    assert user_shell() == login


def test_nologin_falls_back_to_bash_on_path() -> None:
    """codex 0.171.0 as ``nobody`` (shell /usr/sbin/nologin) reports {"name": "bash", "path": "/usr/bin/bash"}
    on Debian 12 with PATH=/usr/local/bin:/usr/bin:/bin, not nologin."""
    try:
        nobody = pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("no 'nobody' user")
    if os.path.basename(nobody.pw_shell) in ("bash", "zsh", "sh"):
        pytest.skip(f"nobody's shell is {nobody.pw_shell}")
    assert user_shell(nobody.pw_uid) == (shutil.which("bash") or shutil.which("zsh") or "/bin/sh")
