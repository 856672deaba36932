"""Start an exec-server (reference, codex, or a user's command) confined, and stop it without orphans."""

from __future__ import annotations

import contextlib
import json
import os
import select
import shlex
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from pytest_execserver.servers.codex import codex_binary
from pytest_execserver.servers.confine import Confinement, confine

LISTEN_LOOPBACK = "ws://127.0.0.1:0"
JOURNAL_NAME = ".execserver-journal.jsonl"  # inside the scratch dir: the only place a confined server writes


class ServerStartError(RuntimeError):
    """The server did not come up; the message states the start-up rule and carries the tail of its output."""


#: What a server under test must do to be started by the harness (README, "Test your own server").
START_RULE = (
    "a server under test must print its ws://HOST:PORT URL as the first line of its stdout, then answer "
    "GET http://HOST:PORT/readyz with 200"
)


@dataclass
class ServerProcess:
    """A running exec-server: its URL, its scratch directory and its log file."""

    kind: str
    url: str
    scratch: Path
    log_path: Path
    confinement: Confinement
    popen: subprocess.Popen[bytes] = field(repr=False)
    journal_path: Path | None = None  # the reference server's journal (docs/journal.md); None for other kinds
    program: str = ""  # the program that runs (codex's binary, the command's first word; the ref's module)

    @property
    def http_url(self) -> str:
        return "http://" + self.url.removeprefix("ws://").rstrip("/")

    def is_running(self) -> bool:
        return self.popen.poll() is None

    def log_tail(self, limit: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-limit:]
        except OSError:
            return ""

    def stop(self, grace_s: float = 2.0) -> int | None:
        """SIGTERM the server's process group, then SIGKILL it; returns the exit status."""
        return _stop_group(self.popen, grace_s)

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def server_argv(kind: str, extra_args: list[str] | None = None, listen: str = LISTEN_LOOPBACK) -> list[str]:
    """The command line for a server kind: ``ref``, ``codex``, ``codex@VERSION``, or a shell-quoted command."""
    extra = list(extra_args or [])
    if kind == "ref":
        return [sys.executable, "-m", "execserver_ref", "--listen", listen, *extra]
    if kind == "codex" or kind.startswith("codex@"):
        version = kind.partition("@")[2] or None
        return [str(codex_binary(version)), "exec-server", "--listen", listen, *extra]
    return [*shlex.split(kind), *extra]


def start_server(
    kind: str,
    scratch: Path,
    *,
    confinement: Confinement,
    extra_args: list[str] | None = None,
    env: dict[str, str] | None = None,
    timeout_s: float = 30.0,
    journal: bool = True,
    listen: str = LISTEN_LOOPBACK,
) -> ServerProcess:
    """Start a confined server and wait until it printed its URL and answers ``/readyz``.

    A reference server journals into ``scratch`` (``ServerProcess.journal_path``) unless ``journal`` is false.
    ``listen``: the address to listen on (default: a free loopback port).
    """
    scratch.mkdir(parents=True, exist_ok=True)
    log_path = scratch.parent / f"{scratch.name}.server.log"
    extra = list(extra_args or [])
    journal_path: Path | None = None
    if kind == "ref" and journal and "--journal" not in extra:
        journal_path = scratch.resolve() / JOURNAL_NAME
        extra += ["--journal", str(journal_path)]
    from pytest_execserver.telemetry.receiver import server_env  # aiohttp: loaded when a server starts

    env = {**server_env(kind, scratch), **(env or {})}  # its spans go to the harness's receiver (issue 13)
    argv = server_argv(kind, extra, listen)
    command = confine(argv, scratch, confinement=confinement, env=env)
    log = open(log_path, "ab")  # noqa: SIM115 - handed to the child; closed below (a restart appends)
    try:
        popen = subprocess.Popen(
            [arg.replace("{listen}", listen) for arg in command.argv],  # a command's {listen} placeholder
            cwd=command.cwd,
            env=command.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=log,
            start_new_session=True,
            preexec_fn=command.preexec,  # only set for the privilege drop
        )
    finally:
        log.close()
    try:
        url = _read_url(popen, timeout_s, log_path)
        program = "execserver_ref" if kind == "ref" else argv[0]
        server = ServerProcess(kind, url, scratch, log_path, command.confinement, popen, journal_path, program)
        _wait_ready(server, timeout_s)
    except BaseException:
        _stop_group(popen, 0.5)
        raise
    return server


def restart_in_place(server: ServerProcess, *, extra_args: list[str] | None = None, timeout_s: float = 30.0) -> None:
    """SIGKILL ``server``'s process group (no goodbye to any client) and start the same server again on the
    same address and scratch directory; ``server`` is updated in place. Every session it held is lost."""
    _kill_group(server.popen.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        server.popen.wait(timeout=5)
    _stop_group(server.popen, 0)
    if server.journal_path is not None:  # the journal's readers learn that every session before this is gone
        with open(server.journal_path, "a", encoding="ascii") as journal:
            journal.write(json.dumps({"t": time.monotonic_ns(), "kind": "server_restart"}) + "\n")
    again = start_server(server.kind, server.scratch, confinement=server.confinement, extra_args=extra_args,
                         listen=server.url, timeout_s=timeout_s)
    if again.url.rstrip("/") != server.url.rstrip("/"):
        again.stop(0.5)
        raise ServerStartError(f"the restarted server listens on {again.url}, not {server.url}")
    server.popen = again.popen


def signal_group(server: ServerProcess, sig: signal.Signals) -> None:
    """Send ``sig`` to the server's process group (SIGSTOP/SIGCONT: ``server_pause``)."""
    _kill_group(server.popen.pid, sig)


def _read_url(popen: subprocess.Popen[bytes], timeout_s: float, log_path: Path) -> str:
    assert popen.stdout is not None
    deadline = time.monotonic() + timeout_s
    buffer = b""
    fd = popen.stdout.fileno()
    while b"\n" not in buffer:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise ServerStartError(
                f"the server printed no URL within {timeout_s:g} s ({START_RULE}); its stdout so far: "
                f"{_show(buffer)}; its stderr (tail): {_show(_tail(log_path))}"
            )
        ready, _, _ = select.select([fd], [], [], min(remaining, 0.2))
        if ready:
            chunk = os.read(fd, 4096)
            if not chunk:
                raise ServerStartError(
                    f"the server exited (status {popen.wait()}) before printing its URL ({START_RULE}); its stdout: "
                    f"{_show(buffer)}; its stderr (tail): {_show(_tail(log_path))}"
                )
            buffer += chunk
    line = buffer.split(b"\n", 1)[0].decode(errors="replace").strip()
    if not line.startswith("ws://"):
        raise ServerStartError(
            f"the server's first stdout line is not a ws:// URL but {line!r} ({START_RULE}); its stderr (tail): "
            f"{_show(_tail(log_path))}"
        )
    return line


def _wait_ready(server: ServerProcess, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(server.http_url + "/readyz", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        if not server.is_running():
            raise ServerStartError(
                f"the server exited during start-up ({START_RULE}); its stderr (tail): {_show(server.log_tail())}"
            )
        if time.monotonic() > deadline:
            raise ServerStartError(
                f"the server printed {server.url} but {server.http_url}/readyz did not answer 200 within "
                f"{timeout_s:g} s ({START_RULE}); its stderr (tail): {_show(server.log_tail())}"
            )
        time.sleep(0.02)


def _stop_group(popen: subprocess.Popen[bytes], grace_s: float) -> int | None:
    """SIGTERM the server itself (not its sandbox wrapper), wait, then SIGKILL the whole group."""
    if popen.stdout is not None:
        popen.stdout.close()
    if popen.poll() is not None:
        _kill_group(popen.pid, signal.SIGKILL)  # reap anything it left in its group
        return popen.returncode
    # Signalling bwrap would make it exit at once and take the server down with SIGKILL (die-with-parent),
    # so the server's own shutdown (killing its process groups, flushing spans) would never run.
    targets = [pid for pid in _descendants(popen.pid) if _comm(pid) != "bwrap"] or [popen.pid]
    for pid in targets[:1]:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGTERM)
    try:
        return popen.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        _kill_group(popen.pid, signal.SIGKILL)
        return popen.wait(timeout=5)
    finally:
        _kill_group(popen.pid, signal.SIGKILL)


def _descendants(root: int) -> list[int]:
    """Pids below ``root``, breadth first (from /proc; empty where /proc is unavailable)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else []:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                ppid = int(stat.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    order: list[int] = []
    queue = [root]
    while queue:
        pid = queue.pop(0)
        if pid != root:
            order.append(pid)
        queue.extend(sorted(children.get(pid, [])))
    return order


def _comm(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm") as comm:
            return comm.read().strip()
    except OSError:
        return ""


def _kill_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _show(output: str | bytes, limit: int = 600) -> str:
    """Output quoted for a one-paragraph message: ``(nothing)`` when empty, else its last ``limit`` characters."""
    text = output.decode(errors="replace") if isinstance(output, bytes) else output
    text = text.strip()
    return repr(text[-limit:]) if text else "(nothing)"


def _tail(path: Path, limit: int = 2000) -> str:
    try:
        return path.read_text(errors="replace")[-limit:]
    except OSError:
        return ""
