"""The server under test, started in each auth mode the suite needs (confined, one per mode per module).

The auth flags are codex's (``--ws-auth capability-token --ws-token-file F``, ``--ws-auth
signed-bearer-token --ws-shared-secret-file F --ws-issuer I --ws-audience A``); a server with other flags
is given templates (``--security-capability-args``, ``--security-signed-args``) whose ``{token_file}``,
``{secret_file}``, ``{issuer}``, ``{audience}`` and ``{skew}`` are filled in, or ``none`` to skip the mode.
Secrets are fresh random values written into the server's scratch directory.
"""

from __future__ import annotations

import itertools
import secrets
import shlex
from dataclasses import dataclass
from pathlib import Path

import pytest

from pytest_execserver.servers.codex import CodexUnavailable, codex_binary
from pytest_execserver.servers.confine import choose_confinement
from pytest_execserver.servers.launch import ServerProcess, start_server
from pytest_execserver.suites.security.options import CAPABILITY_ARGS, SIGNED_ARGS, SKEW_ARG
from pytest_execserver.suites.security.tokens import DEFAULT_SKEW_S, JwtSetup

START_TIMEOUT_S = 20.0


@dataclass(frozen=True)
class AuthTemplates:
    """How the server under test is told each auth mode (``None``: it has no such mode)."""

    capability: str | None = CAPABILITY_ARGS
    signed: str | None = SIGNED_ARGS
    skew: str | None = SKEW_ARG


@dataclass
class Running:
    server: ServerProcess
    token: str | None = None  # capability mode
    jwt: JwtSetup | None = None  # signed mode


class SecurityServers:
    """Lazily started servers of one kind (``ref``, ``codex`` or a command) keyed by auth mode."""

    def __init__(self, base: Path, kind: str, args: tuple[str, ...], templates: AuthTemplates) -> None:
        self.base = base
        self.kind = kind
        self.args = args
        self.templates = templates
        self._running: dict[str, Running] = {}
        self._failed: dict[str, BaseException] = {}
        self._names = itertools.count()

    def plain(self) -> Running:
        """No auth."""
        return self._get("plain", [], None, None)

    def capability(self) -> Running:
        if self.templates.capability is None:
            pytest.skip("the server under test has no capability-token mode (--security-capability-args none)")
        token = "cap-" + secrets.token_hex(20)
        return self._get("capability", shlex.split(self.templates.capability), token, None)

    def signed(self, skew_s: int | None = None) -> Running:
        """Signed bearer tokens; ``skew_s`` ``None``: the server's default skew (codex: 30 s)."""
        if self.templates.signed is None:
            pytest.skip("the server under test has no signed-bearer-token mode (--security-signed-args none)")
        template = self.templates.signed
        if skew_s is not None:
            if self.templates.skew is None:
                pytest.skip("the server under test takes no clock-skew flag (--security-skew-arg none)")
            template += self.templates.skew
        setup = JwtSetup(secret=secrets.token_hex(32), skew_s=DEFAULT_SKEW_S if skew_s is None else skew_s)
        return self._get(f"signed-{skew_s}", shlex.split(template), None, setup)

    def _get(self, mode: str, template: list[str], token: str | None, setup: JwtSetup | None) -> Running:
        if mode in self._running and self._running[mode].server.is_running():
            return self._running[mode]
        if mode in self._failed:
            raise self._failed[mode]
        if self.kind == "codex" or self.kind.startswith("codex@"):
            try:
                codex_binary(self.kind.partition("@")[2] or None)
            except CodexUnavailable as exc:
                pytest.skip(f"real codex exec-server ({self.kind}) unavailable: {exc}")
        scratch = self.base / f"{mode}-{next(self._names)}" / "scratch"
        scratch.mkdir(parents=True)
        values = {"token_file": str(scratch / "token"), "secret_file": str(scratch / "secret"), "skew": ""}
        if token is not None:
            (scratch / "token").write_text(token + "\n")
        if setup is not None:
            (scratch / "secret").write_text(setup.secret + "\n")
            values.update(issuer=setup.issuer or "", audience=setup.audience or "", skew=str(setup.skew_s))
        extra = [arg.format(**values) for arg in template]
        try:
            server = start_server(self.kind, scratch, confinement=choose_confinement(),
                                  extra_args=[*self.args, *extra], timeout_s=START_TIMEOUT_S)
        except BaseException as exc:
            self._failed[mode] = exc
            raise
        running = Running(server, token, setup)
        self._running[mode] = running
        return running

    def stop_all(self) -> None:
        for running in self._running.values():
            running.server.stop()
        self._running.clear()
