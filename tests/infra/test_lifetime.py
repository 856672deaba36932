"""Nothing outlives a killed pytest: the servers, proxies and clients the harness starts get SIGKILL when the
process that started them dies without running its teardown (a CI timeout, SIGKILL)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_execserver.faults.backend import real_binary
from pytest_execserver.servers.confine import choose_confinement
from pytest_execserver.waiting import wait_until_sync

PARENT = r"""
import json, sys, time
from pathlib import Path
from pytest_execserver.servers.confine import Confinement
from pytest_execserver.servers.launch import start_server
from pytest_execserver.faults.toxi import start_toxiproxy

scratch, confinement, toxiproxy = Path(sys.argv[1]), Confinement(sys.argv[2]), sys.argv[3]
server = start_server("ref", scratch / "server", confinement=confinement)
proxy = start_toxiproxy(toxiproxy, log_dir=scratch)
print(json.dumps({"server": server.popen.pid, "proxy": proxy.popen.pid}), flush=True)
time.sleep(600)  # killed by the test long before
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is dead: only its parent (init, here) has not reaped it yet
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return False


@pytest.mark.parametrize("toxiproxy", ["embedded", pytest.param("real", marks=pytest.mark.skipif(
    real_binary() is None, reason="the real toxiproxy-server is not installed (./run installs it)"))])
def test_children_die_with_a_killed_parent(tmp_path: Path, toxiproxy: str) -> None:
    parent = subprocess.Popen([sys.executable, "-c", PARENT, str(tmp_path), choose_confinement().value,
                               toxiproxy], stdout=subprocess.PIPE, start_new_session=True)
    children: dict[str, int] = {}
    try:
        assert parent.stdout is not None
        line = parent.stdout.readline()
        assert line, "the parent exited before starting its children"
        children = json.loads(line)
        assert all(_alive(pid) for pid in children.values())
        parent.send_signal(signal.SIGKILL)  # no teardown runs
        parent.wait(10)
        wait_until_sync(lambda: not any(_alive(pid) for pid in children.values()), 10,
                        f"the children {children} of a killed parent to exit")
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait(10)
        for pid in children.values():  # whatever the outcome, nothing of ours is left running
            if _alive(pid):
                os.killpg(pid, signal.SIGKILL)
