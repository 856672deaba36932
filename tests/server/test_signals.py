"""Signals reach the process (issue 11): children start with default signal dispositions and an empty
signal mask, and ``process/signal interrupt`` sent right after ``process/start`` returned always ends
``sh -c "sleep 30"``, even when the server itself was started with SIGINT and SIGQUIT ignored (as a CI
runner's background job is) and the machine is busy. Reference server and codex 0.169.0.
"""

from __future__ import annotations

import shlex
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_execserver.servers.codex import CodexUnavailable, codex_binary
from pytest_execserver.servers.confine import choose_confinement
from pytest_execserver.servers.launch import ServerProcess, server_argv, start_server

from .refclient import Client, start_params

# Start the server the way a background job of a non-interactive shell runs: SIGINT and SIGQUIT ignored;
# SIGUSR2 blocked too, to see the signal mask is not inherited either.
_IGNORING = (
    "import os, signal, sys\n"
    "for s in (signal.SIGINT, signal.SIGQUIT): signal.signal(s, signal.SIG_IGN)\n"
    "signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGUSR2])\n"
    "os.execvp(sys.argv[1], sys.argv[1:])"
)


@pytest.fixture(scope="module", params=["ref", "codex"])
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    kind = request.param
    if kind == "codex":
        try:
            codex_binary()
        except CodexUnavailable as exc:
            pytest.skip(f"real codex exec-server unavailable: {exc}")
    command = shlex.join([sys.executable, "-c", _IGNORING, *server_argv(kind)])
    scratch = tmp_path_factory.mktemp(f"signals-{kind}") / "scratch"
    srv = start_server(command, scratch, confinement=choose_confinement())
    srv.kind = kind
    yield srv
    srv.stop()


def _status_masks(text: str) -> dict[str, int]:
    masks = {}
    for line in text.splitlines():
        name, _, value = line.partition(":")
        if name in ("SigIgn", "SigBlk"):
            masks[name] = int(value.strip(), 16)
    return masks


async def test_children_start_with_default_signal_dispositions(
    server: ServerProcess, request: pytest.FixtureRequest
) -> None:
    if server.kind == "codex":
        request.applymarker(pytest.mark.xfail(
            strict=True, reason="codex 0.169.0 and 0.171.0 hand their ignored signals (SIGQUIT) and blocked "
            "mask (SIGUSR2) on to every child"))  # fmt: skip
    c = await Client.connect(server.url)
    try:
        await c.init()
        argv = ["/usr/bin/grep", "-E", "^Sig(Ign|Blk):", "/proc/self/status"]
        await c.call("process/start", start_params("status", argv, server.scratch))
        await c.wait_closed_notification("status")
        masks = _status_masks(c.output("status").decode())
    finally:
        await c.close()
    assert masks == {"SigIgn": 0, "SigBlk": 0}, {k: hex(v) for k, v in masks.items()}


class _Busy:
    """A thread that spins, so the test runs on a loaded machine."""

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._spin, daemon=True)

    def _spin(self) -> None:
        x = 0
        while not self._stop.is_set():
            x = (x * 31 + 7) % 1_000_003

    def __enter__(self) -> _Busy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)


# 50 rounds on the reference server (the bar). codex loses ~8 in 100 on a busy machine but fewer on a
# quiet one (a CI run on 2 quiet cores lost none of 100: the race needs the fork to be slow), so it gets 300
# rounds to keep its strict xfail from passing by luck.
ROUNDS = {"ref": 50, "codex": 300}
LOST_AFTER_S = 3.0  # an interrupted `sleep 30` exits within milliseconds; still running after this: lost


def _exited_of(pid: str) -> Callable[[dict[str, Any]], bool]:
    return lambda f: f.get("method") == "process/exited" and f["params"]["processId"] == pid


async def test_interrupt_right_after_start_always_ends_the_process(
    server: ServerProcess, request: pytest.FixtureRequest
) -> None:
    if server.kind == "codex":
        request.applymarker(pytest.mark.xfail(
            strict=True, reason="codex 0.169.0 and 0.171.0 lose ~8 in 100 interrupts sent right after process/start of "
            "sh -c 'sleep 30': dash caught SIGINT while forking sleep, and the forked sleep never saw it"))  # fmt: skip
    work = Path(server.scratch) / "interrupts"
    work.mkdir(exist_ok=True)
    c = await Client.connect(server.url)
    lost: list[str] = []
    try:
        await c.init()
        with _Busy():
            for n in range(ROUNDS[server.kind]):
                pid = f"sleep-{n}"
                await c.call("process/start", start_params(pid, ["/bin/sh", "-c", "sleep 30"], work))
                await c.call("process/signal", {"processId": pid, "signal": "interrupt"})
                try:
                    exited = await c.wait_for(_exited_of(pid), LOST_AFTER_S)
                except AssertionError:
                    lost.append(pid)
                    await c.call("process/terminate", {"processId": pid})
                    continue
                assert exited["params"]["exitCode"] == 130, exited
    finally:
        await c.close()
    assert lost == [], f"{len(lost)} of {ROUNDS[server.kind]} interrupts had no effect: {lost}"


async def test_interrupt_reaches_the_whole_process_group(server: ServerProcess) -> None:
    """The shell's foreground child gets the interrupt too: the shell runs its trap only after `sleep` ended,
    so a quick exit 7 (not after 30 s) shows the signal reached the whole group."""
    work = Path(server.scratch) / "group"
    work.mkdir(exist_ok=True)
    c = await Client.connect(server.url)
    try:
        await c.init()
        script = "trap 'echo shell-got-int; exit 7' INT; echo ready; sleep 30; echo after-sleep"
        await c.call("process/start", start_params("grp", ["/bin/sh", "-c", script], work))
        await c.wait_for(lambda f: f.get("method") == "process/output")  # the shell is about to run sleep
        await c.call("process/signal", {"processId": "grp", "signal": "interrupt"})
        exited = await c.wait_for(lambda f: f.get("method") == "process/exited", 10)
        await c.wait_closed_notification("grp")  # closed: the sleep holding the pipe is gone too
    finally:
        await c.close()
    assert exited["params"]["exitCode"] == 7
    assert c.output("grp") == b"ready\nshell-got-int\n"


async def test_a_terminal_process_that_closed_its_terminal_is_not_hung_up(server: ServerProcess) -> None:
    """A process on a PTY may close its last terminal fd before it exits (coreutils' ``head`` closes stdin,
    stdout and stderr, then calls ``_exit``). The server must keep the PTY open until the process has
    exited: closing the master hangs the terminal up, the kernel sends SIGHUP to the session leader, and
    the process dies reported as exit code 1. Found by ``./run soak``: codex's ``head -c 2021`` through a
    terminal ended with exit code 1 in about 1 run in 10 on the reference server (6 in 100 in a loop)."""
    work = Path(server.scratch) / "hangup"
    work.mkdir(exist_ok=True)
    c = await Client.connect(server.url)
    try:
        await c.init()
        argv = ["/bin/sh", "-c", "exec 0<&- 1>&- 2>&-; sleep 0.3; exit 7"]
        await c.call("process/start", start_params("closes-its-tty", argv, work, tty=True))
        exited = await c.wait_for(_exited_of("closes-its-tty"))
    finally:
        await c.close()
    assert exited["params"]["exitCode"] == 7, exited
