"""Servers for the conformance scenarios: one confined server per (kind, extra args) per test module.

Servers are started exactly like the shared ``launch_server`` fixture does (``start_server`` with
``choose_confinement()``: bubblewrap, writable scratch only), but module-scoped so a module's tests share
them; every test opens its own connections (hence its own session) and works in its own sub-directory of
the scratch dir, so sharing a server does not share state that a scenario observes.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path

import pytest

from pytest_execserver.servers.codex import CodexUnavailable, codex_binary
from pytest_execserver.servers.confine import choose_confinement, hand_to_server
from pytest_execserver.servers.launch import ServerProcess, start_server
from pytest_execserver.suites.conformance.harness import Ctx

KINDS = ("ref", "codex")
START_TIMEOUT_S = 15.0


class ServerPool:
    """Lazily started servers keyed by (kind, extra args); all stopped when the module ends.

    ``{scratch}`` in an extra arg is replaced by the new server's scratch path; ``prepare(scratch)`` runs
    before the server starts (e.g. to write a token file there).
    """

    def __init__(self, base: Path) -> None:
        self.base = base
        self.servers: dict[tuple[str, ...], ServerProcess] = {}
        self.failures: dict[tuple[str, ...], BaseException] = {}
        self._names = itertools.count()

    def get(self, kind: str, *extra_args: str, prepare: Callable[[Path], None] | None = None) -> ServerProcess:
        key = (kind, *extra_args)
        if key in self.servers and self.servers[key].is_running():
            return self.servers[key]
        if key in self.failures:  # do not pay a start-up timeout twice
            raise self.failures[key]
        if kind == "codex" or kind.startswith("codex@"):
            try:
                codex_binary(kind.partition("@")[2] or None)
            except CodexUnavailable as exc:
                pytest.skip(f"real codex exec-server ({kind}) unavailable: {exc}")
        # a command is not a path component
        label = kind.replace("@", "-") if kind in KINDS or kind.startswith("codex@") else "command"
        scratch = self.base / f"{label}-{next(self._names)}" / "scratch"
        scratch.mkdir(parents=True)
        if prepare is not None:
            prepare(scratch)
        try:
            server = start_server(
                kind,
                scratch,
                confinement=choose_confinement(),
                extra_args=[arg.replace("{scratch}", str(scratch)) for arg in extra_args],
                timeout_s=START_TIMEOUT_S,
            )
        except BaseException as exc:
            self.failures[key] = exc
            raise
        self.servers[key] = server
        return server

    def stop_all(self) -> None:
        for server in self.servers.values():
            server.stop()
        self.servers.clear()


_workdirs = itertools.count()


def new_ctx(pool: ServerPool, kind: str, name: str, *, strict: bool, args: tuple[str, ...] = ()) -> Ctx:
    """A context on the pool's main server of ``kind`` (with ``args``), in a fresh sub-directory of its scratch."""
    server = pool.get(kind, *args)
    workdir = server.scratch / f"w{next(_workdirs)}-{name}"
    workdir.mkdir()
    hand_to_server(server.scratch, workdir)

    def other_server(*extra_args: str, prepare: Callable[[Path], None] | None = None) -> ServerProcess:
        return pool.get(kind, *args, *extra_args, prepare=prepare)

    return Ctx(server=server, workdir=workdir, strict=strict, other_server=other_server)
