"""What a session uses and what each worker really ran: the one account the header, both reports and
``doctor`` print, so none of them can name a different component than the one under test.

``resolved(...)`` answers before anything starts (the header, ``doctor``); ``ran_toxiproxy`` and
``ran_server`` describe a process that did start, from what it answered (Toxiproxy's ``GET /version``).
"""

from __future__ import annotations

import shlex
import shutil
from dataclasses import asdict, dataclass
from typing import Any

from pytest_execserver.faults.backend import BackendChoiceError, binary_version, select_backend


@dataclass(frozen=True)
class Component:
    """One part of the harness: its kind (``real``, ``embedded``, ``ref``, ``codex``, ``bwrap``...), where
    its program is, its version, and why it was chosen when that is not obvious."""

    kind: str
    path: str | None = None
    version: str | None = None
    why: str = ""

    def describe(self) -> str:
        """``real (/cache/toxiproxy-2.12.0/toxiproxy-server 2.12.0)``: the kind, then path and version."""
        detail = " ".join(x for x in (self.path, self.version) if x)
        detail = "; ".join(x for x in (detail, self.why) if x)
        return f"{self.kind} ({detail})" if detail else self.kind

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v}


def toxiproxy(choice: str) -> Component:
    """The Toxiproxy ``choice`` resolves to, with the real binary's path and ``-version``."""
    try:
        backend = select_backend(choice)
    except BackendChoiceError as exc:
        return Component("unavailable", why=str(exc))
    if backend.kind == "real" and backend.binary is not None:
        return Component("real", backend.binary, binary_version(backend.binary))
    if backend.kind == "url":
        return Component("url", backend.url)
    return Component("embedded", "pytoxiproxy", _package_version())


def ran_toxiproxy(kind: str, binary: str | None, url: str, version: str | None) -> Component:
    """A Toxiproxy that started: its backend kind and binary, and the version its API answered."""
    if kind == "real":
        return Component("real", binary, version)
    return Component(kind, url if kind == "url" else "pytoxiproxy", version)


def server(kind: str) -> Component:
    """The server under test ``kind`` names (``ref``, ``codex[@V]``, a command), without fetching anything."""
    if kind == "ref" or kind.startswith("ref "):
        return Component("ref", "execserver-ref", _package_version())
    if kind == "codex" or kind.startswith("codex@"):
        from pytest_execserver.servers.codex import DEFAULT_VERSION, cached_binary_path

        version = kind.partition("@")[2] or DEFAULT_VERSION
        path = cached_binary_path(version) if version != "latest" else None
        if path is not None and path.exists():
            return Component("codex", str(path), version)
        return Component("codex", None, version, "not fetched yet")
    program = shlex.split(kind)[0] if kind.strip() else kind
    return Component("command", shutil.which(program) or program)


def ran_server(kind: str, program: str) -> Component:
    """A server that started: its kind and the program that ran."""
    base = server(kind)
    return Component(base.kind, program, base.version)


def _package_version() -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("pytest-execserver")
    except PackageNotFoundError:
        return None


def by_worker_json(ran: dict[str, dict[str, Component]]) -> dict[str, dict[str, Any]]:
    """``{worker: {part: component}}`` as JSON."""
    return {w: {part: c.to_json() for part, c in parts.items()} for w, parts in sorted(ran.items())}


def from_json(data: dict[str, Any]) -> Component:
    return Component(str(data.get("kind", "?")), data.get("path"), data.get("version"), data.get("why", ""))


__all__ = ["Component", "by_worker_json", "from_json", "ran_server", "ran_toxiproxy", "server", "toxiproxy"]
