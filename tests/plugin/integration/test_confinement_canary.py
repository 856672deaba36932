"""SAFETY: every server the fixtures start is confined; a write outside its scratch dir must fail.

The canary path is inside this test's own fresh tmp dir (never a real system path).
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from pathlib import Path

import pytest

from pytest_execserver.client import ExecClient
from pytest_execserver.servers.confine import Confinement
from pytest_execserver.servers.launch import ServerProcess

Inner = Callable[..., pytest.RunResult]  # the `inner` fixture (tests/plugin/conftest.py)


def canary_argv(path: Path) -> list[str]:
    return ["/bin/sh", "-c", f"echo x > {shlex.quote(str(path))}"]


async def test_server_cannot_write_outside_scratch(
    exec_client: ExecClient, exec_server: ServerProcess, exec_scratch: Path, tmp_path: Path
) -> None:
    assert exec_server.confinement is not Confinement.NONE
    canary = tmp_path / "outside" / "canary"
    canary.parent.mkdir()
    assert not canary.parent.resolve().is_relative_to(exec_server.scratch.resolve())
    result = await exec_client.run(canary_argv(canary), cwd=exec_scratch, timeout=10)
    assert result.exit_code != 0, result
    assert not canary.exists(), "confinement failed: the server wrote outside its scratch dir"
    assert result.stderr  # the shell says why (read-only file system / permission denied)
    # positive control: inside scratch the same write works, and cwd/HOME are the scratch dir
    inside = exec_scratch / "canary"
    ok = await exec_client.run(["/bin/sh", "-c", f"echo x > {shlex.quote(str(inside))}; pwd; echo $HOME"],
                               cwd=exec_scratch, timeout=10)
    assert ok.exit_code == 0 and inside.read_bytes() == b"x\n"
    default_cwd = await exec_client.run(["/bin/sh", "-c", "pwd"], timeout=10)
    assert Path(default_cwd.stdout.decode().strip()).resolve() == exec_server.scratch.resolve()


def test_unconfined_opt_out(inner: Inner, pytester: pytest.Pytester) -> None:
    canary = pytester.path / "outside" / "canary"
    canary.parent.mkdir()
    pytester.makepyfile(f'''
async def test_write(exec_client, exec_server):
    assert exec_server.confinement.value == "none"
    r = await exec_client.run(["/bin/sh", "-c", "echo x > {canary}"], timeout=10)
    assert r.exit_code == 0
''')
    result = inner("--execserver-unconfined", "--execserver-toxiproxy", "embedded")
    result.assert_outcomes(passed=1)
    assert canary.read_bytes() == b"x\n"  # opted out: the write outside scratch succeeded
    result.stdout.fnmatch_lines(["*WARNING: pytest-execserver: --execserver-unconfined: servers run WITHOUT*"])
