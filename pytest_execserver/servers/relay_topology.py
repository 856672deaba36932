"""Codex's remote path, each piece confined: our relay (``execserver-relay``), codex's executor
(``codex exec-server --remote``) or ``codex exec-server forward``, and :class:`RelayTopology`, the session's
relay with the server under test registered behind it (``--execserver-topology relay``; docs/remote.md,
"Topology"). The Codex CLI client pointed at the relay is :mod:`pytest_execserver.subjects.relay`."""

from __future__ import annotations

import contextlib
import json
import os
import select
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_execserver.servers.codex import codex_binary
from pytest_execserver.servers.confine import Confinement, confine
from pytest_execserver.servers.launch import ServerProcess, ServerStartError, _stop_group
from pytest_execserver.telemetry.receiver import server_env

AUTH_TOKEN = "relay-test-token"  # the client's bearer for /connect (a test value, not a secret)
REGISTRATION_BEARER = "relay-test-registration"
ENVIRONMENT_ID = "env-test"


class RelayStartError(RuntimeError):
    """The relay did not print its URL; the message carries its log."""


@dataclass
class RelayProcess:
    """A running ``execserver-relay``: its base URL and journal."""

    url: str
    journal_path: Path
    log_path: Path
    popen: subprocess.Popen[bytes] = field(repr=False)

    def events(self, name: str | None = None) -> list[dict[str, Any]]:
        """The journal so far (every event, or those named ``name``)."""
        try:
            lines = self.journal_path.read_text().splitlines()
        except FileNotFoundError:
            return []
        records = [json.loads(line) for line in lines if line.strip()]
        return [r for r in records if name is None or r["event"] == name]

    def wait_for(self, predicate: Callable[[list[dict[str, Any]]], bool], timeout_s: float = 30.0,
                 what: str = "a journal condition") -> list[dict[str, Any]]:
        """Poll the journal until ``predicate(events)``; AssertionError with the journal tail otherwise."""
        deadline = time.monotonic() + timeout_s
        while True:
            events = self.events()
            if predicate(events):
                return events
            if time.monotonic() > deadline:
                tail = [(e["event"], {k: v for k, v in e.items() if k not in ("t", "event")}) for e in events[-12:]]
                raise AssertionError(f"relay journal: no {what} within {timeout_s} s; last events: {tail}")
            time.sleep(0.02)

    def post_faults(self, *faults: dict[str, Any]) -> dict[str, Any]:
        """Install faults over ``POST /faults``."""
        request = urllib.request.Request(self.url + "/faults", data=json.dumps({"faults": list(faults)}).encode(),
                                         headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(request, timeout=5) as response:
            result: dict[str, Any] = json.loads(response.read())
        return result

    def set_rendezvous(self, role: str, base: str | None) -> None:
        """Hand ``role`` rendezvous URLs on ``base`` (``ws://127.0.0.1:PORT``, e.g. a Toxiproxy listener)."""
        request = urllib.request.Request(self.url + "/rendezvous", data=json.dumps({role: base}).encode(),
                                         headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(request, timeout=5) as response:
            response.read()

    def faults(self) -> list[dict[str, Any]]:
        with urllib.request.urlopen(self.url + "/faults", timeout=5) as response:
            result: list[dict[str, Any]] = json.loads(response.read())["faults"]
        return result

    def is_running(self) -> bool:
        return self.popen.poll() is None

    def stop(self) -> int | None:
        return _stop_group(self.popen, 2.0)


def _read_first_line(popen: subprocess.Popen[bytes], timeout_s: float) -> str:
    assert popen.stdout is not None
    deadline, buffer, fd = time.monotonic() + timeout_s, b"", popen.stdout.fileno()
    while b"\n" not in buffer:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return ""
        ready, _, _ = select.select([fd], [], [], min(remaining, 0.2))
        if ready:
            chunk = os.read(fd, 4096)
            if not chunk:
                return ""
            buffer += chunk
    return buffer.split(b"\n", 1)[0].decode(errors="replace").strip()


def start_relay(scratch: Path, confinement: Confinement, *extra: str, timeout_s: float = 20.0) -> RelayProcess:
    """Start ``execserver-relay`` confined to ``scratch`` and wait for its URL."""
    scratch.mkdir(parents=True, exist_ok=True)
    journal = scratch.resolve() / "relay.jsonl"
    log_path = scratch.parent / f"{scratch.name}.relay.log"
    argv = [sys.executable, "-m", "execserver_relay", "--listen", "ws://127.0.0.1:0", "--journal", str(journal),
            "--auth-token", AUTH_TOKEN, *extra]
    command = confine(argv, scratch, confinement=confinement)
    with open(log_path, "wb") as log:
        popen = subprocess.Popen(command.argv, cwd=command.cwd, env=command.env, stdin=subprocess.DEVNULL,
                                 stdout=subprocess.PIPE, stderr=log, start_new_session=True,
                                 preexec_fn=command.preexec)
    url = _read_first_line(popen, timeout_s)
    if not url.startswith("http://127.0.0.1:"):
        _stop_group(popen, 0.5)
        raise RelayStartError(f"relay printed {url!r}, not a loopback URL; log: {log_path.read_text()[-2000:]}")
    return RelayProcess(url, journal, log_path, popen)


@dataclass
class CodexRemote:
    """A ``codex exec-server --remote`` executor or ``codex exec-server forward``, confined."""

    popen: subprocess.Popen[bytes] = field(repr=False)
    log_path: Path
    scratch: Path | None = None  # its cwd: commands run by codex's executor must lie inside it

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def wait(self, timeout_s: float) -> int | None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            return self.popen.wait(timeout=timeout_s)
        return None

    def is_running(self) -> bool:
        return self.popen.poll() is None

    def stop(self) -> int | None:
        return _stop_group(self.popen, 2.0)


def start_codex_remote(relay_url: str, scratch: Path, confinement: Confinement, *, connect: str | None = None,
                       environment_id: str = ENVIRONMENT_ID, version: str | None = None,
                       bearer: str = REGISTRATION_BEARER, otel: bool = False) -> CodexRemote:
    """``codex exec-server --remote`` (``connect`` None) or ``codex exec-server forward --connect URL``.

    ``otel``: codex exports its traces to the harness's OTLP receiver (``[otel]`` in its config.toml).
    """
    scratch.mkdir(parents=True, exist_ok=True)
    binary = str(codex_binary(version))
    remote = ["--remote", relay_url, "--environment-id", environment_id, "--registration-bearer-stdin"]
    argv = ([binary, "exec-server", "forward", *remote, "--connect", connect] if connect is not None
            else [binary, "exec-server", *remote])
    env = {"RUST_LOG": "info", **(server_env("codex", scratch) if otel else {})}
    command = confine(argv, scratch, confinement=confinement, env=env)
    log_path = scratch.parent / f"{scratch.name}.codex-remote.log"
    with open(log_path, "wb") as log:
        popen = subprocess.Popen(command.argv, cwd=command.cwd, env=command.env, stdin=subprocess.PIPE,
                                 stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                 preexec_fn=command.preexec)
    assert popen.stdin is not None
    popen.stdin.write(bearer.encode() + b"\n")
    popen.stdin.close()
    return CodexRemote(popen, log_path, scratch)


def _environment_opens(events: list[dict[str, Any]]) -> int:
    return sum(1 for e in events if e["event"] == "ws_open" and e.get("role") == "environment")


class RelayTopology:
    """The session's relay with the server under test registered behind it (``--execserver-topology relay``).

    ``ensure(connect=URL)`` registers ``codex exec-server forward --connect URL`` (the reference server or a
    user's, reached through ``exec_proxy``: its faults and the journal apply on the last hop);
    ``ensure(connect=None, via=URL)`` registers codex's own executor (``--remote URL``: a Toxiproxy proxy in
    front of :meth:`ensure_relay`'s relay puts faults on the executor's relay hop; default the relay itself).
    Each piece is started on first use and again if it died; the registration is done when the relay
    journals the executor's websocket.
    """

    def __init__(self, root: Path, confinement: Confinement, *, version: str | None = None,
                 timeout_s: float = 30.0) -> None:
        self.root = root
        self.confinement = confinement
        self.version = version  # codex's version for the executor / forward (None: the default)
        self.timeout_s = timeout_s
        self.relay: RelayProcess | None = None
        self.remote: CodexRemote | None = None
        self.target: tuple[str | None, str | None] | None = None  # (connect, via) of the running executor
        self.starts = 0

    def ensure_relay(self) -> RelayProcess:
        """The running relay (started now if it is not; an executor behind a dead relay is stopped)."""
        if self.relay is None or not self.relay.is_running():
            self._stop_remote()
            if self.relay is not None:
                self.relay.stop()
            self.starts += 1
            self.relay = start_relay(self.root / f"relay-{self.starts}", self.confinement)
        return self.relay

    def ensure(self, connect: str | None, via: str | None = None) -> RelayProcess:
        """The running relay, with an executor (or ``forward`` to ``connect``) registered behind it at ``via``
        (the registry URL the executor is given; default the relay's own)."""
        relay = self.ensure_relay()
        target = (connect, via)
        if self.remote is None or not self.remote.is_running() or target != self.target:
            self._stop_remote()
            before = _environment_opens(relay.events())
            self.starts += 1
            self.remote = start_codex_remote(via or relay.url, self.root / f"executor-{self.starts}",
                                             self.confinement, connect=connect, version=self.version)
            self.target = target
            remote = self.remote
            try:
                relay.wait_for(lambda events: _environment_opens(events) > before or not remote.is_running(),
                               self.timeout_s, "executor registration")
            except AssertionError as exc:
                raise RelayStartError(f"{exc}; executor log: {remote.log()[-2000:]}") from None
            if not remote.is_running():
                raise RelayStartError(f"codex's executor exited ({remote.popen.returncode}) before registering; "
                                      f"log: {remote.log()[-2000:]}")
        return relay

    def _stop_remote(self) -> None:
        if self.remote is not None:
            self.remote.stop()
            self.remote = None

    def stop(self) -> None:
        """Stop the executor and the relay."""
        self._stop_remote()
        if self.relay is not None:
            self.relay.stop()
            self.relay = None


@dataclass
class RelayedServer(ServerProcess):
    """``--execserver-server codex --execserver-topology relay``: codex's own executor, registered behind our
    relay with ``codex exec-server --remote`` (its cwd and writable scratch: the server's scratch).

    ``url`` is the relay's address (``ws://127.0.0.1:PORT``), so ``exec_proxy`` -- Toxiproxy in front of the
    server's URL -- sits between the client and the relay: the client is given the proxy as its registry,
    and the relay builds its rendezvous URL on the address it was reached at, so the client's ``/connect``
    and its rendezvous websocket both cross the proxy (docs/remote.md, "Codex's own executor").
    ``popen`` is the executor's; the server runs while both the executor and the relay run.
    """

    relay: RelayProcess | None = None
    executor: CodexRemote | None = None

    def is_running(self) -> bool:
        return (self.popen.poll() is None and self.relay is not None and self.relay.is_running())

    def stop(self, grace_s: float = 2.0) -> int | None:
        status = _stop_group(self.popen, grace_s)
        if self.relay is not None:
            self.relay.stop()
        return status


def start_relayed_codex(kind: str, scratch: Path, confinement: Confinement, *,
                        timeout_s: float = 30.0) -> RelayedServer:
    """Start our relay and ``codex exec-server --remote`` (``kind``: ``codex`` or ``codex@VERSION``) registered
    behind it, each confined, the bearer on the executor's stdin; return when the relay journals the
    executor's websocket. :class:`ServerStartError` (with both logs) when it does not come up."""
    version = kind.partition("@")[2] or None
    try:
        relay = start_relay(scratch.parent / f"{scratch.name}-relay", confinement)
    except RelayStartError as exc:
        raise ServerStartError(f"the relay did not start: {exc}") from None
    try:
        remote = start_codex_remote(relay.url, scratch, confinement, version=version)
        try:
            relay.wait_for(lambda events: _environment_opens(events) > 0 or not remote.is_running(), timeout_s,
                           "executor registration")
        except AssertionError as exc:
            remote.stop()
            raise ServerStartError(f"{exc}; executor log: {remote.log()[-2000:]}") from None
        if not remote.is_running():
            raise ServerStartError(f"codex's executor exited ({remote.popen.returncode}) before registering; "
                                   f"log: {remote.log()[-2000:]}")
    except BaseException:
        relay.stop()
        raise
    return RelayedServer(kind, "ws://" + relay.url.removeprefix("http://"), scratch, remote.log_path, confinement,
                         remote.popen, None, str(codex_binary(version)), relay=relay, executor=remote)
