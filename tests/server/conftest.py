"""Fixtures for the reference server's tests: shared confined servers and connected clients."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from refclient import Client

from pytest_execserver.confine import choose_confinement
from pytest_execserver.launch import ServerProcess, start_server


@pytest.fixture(scope="module")
def ref_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One confined reference server per test module (default flags)."""
    scratch = tmp_path_factory.mktemp("refsrv") / "scratch"
    server = start_server("ref", scratch, confinement=choose_confinement())
    yield server
    server.stop()


@pytest.fixture
def work(ref_server: ServerProcess) -> Path:
    """A fresh directory inside the shared server's scratch."""
    path = ref_server.scratch / f"w{os.urandom(4).hex()}"
    path.mkdir()
    return path


@pytest.fixture
async def client(ref_server: ServerProcess) -> AsyncIterator[Client]:
    c = await Client.connect(ref_server.url)
    await c.init()
    yield c
    await c.close()


def descendants(root: int) -> list[int]:
    """Every live descendant pid of ``root`` (walks /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                stat = handle.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    out: list[int] = []
    todo = [root]
    while todo:
        pid = todo.pop()
        for child in children.get(pid, []):
            out.append(child)
            todo.append(child)
    return out


def cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return handle.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def pids_with(marker: str) -> list[int]:
    """Live (non-zombie) processes whose command line contains ``marker``."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and marker in cmdline(int(entry)):
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    state = handle.read().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            if state != "Z":
                found.append(int(entry))
    return found


def server_pid(server: ServerProcess) -> int:
    """The python reference-server process inside the confinement."""
    for pid in [server.popen.pid, *descendants(server.popen.pid)]:
        line = cmdline(pid)
        if "execserver_ref" in line and "bwrap" not in line.split(" ", 1)[0]:
            return pid
    raise AssertionError("reference server process not found")


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0
