"""Command-line options (each with an ini twin) and their validated, typed form.

Precedence: command line, then (for the budget scale only) ``EXECSERVER_BUDGET_SCALE``, then the ini file,
then the default. Bad values raise :class:`pytest.UsageError` naming the option and what is accepted.
"""

from __future__ import annotations

import os
import secrets
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

MODES = ("event-stream", "legacy-read")
MODE_CHOICES = (*MODES, "both")
TOXIPROXY_BACKENDS = ("auto", "embedded", "real")
BUDGET_SCALE_ENV = "EXECSERVER_BUDGET_SCALE"
DEFAULT_ARTIFACTS = "execserver-artifacts"
DEFAULT_SHRINK_BUDGET_S = 180.0

UNCONFINED_WARNING = (
    "pytest-execserver: --execserver-unconfined: servers run WITHOUT confinement and can write anywhere "
    "this user can. Only do this in a disposable VM or container."
)


class ExecServerUnconfinedWarning(UserWarning):
    """Servers are being started without confinement."""


# (option, ini name, help, default shown in help)
_OPTIONS: list[tuple[str, str, str]] = [
    ("--execserver-server", "execserver_server",
     "server under test: 'ref' (reference server, default), 'codex' (real codex exec-server, fetched "
     "with npm; 'codex@0.169.0' or 'codex@latest' for another release), 'ref --inject-bug KIND' / "
     "'codex ARGS' (extra arguments), or any command that prints its ws:// URL on the first stdout line"),
    ("--execserver-toxiproxy", "execserver_toxiproxy",
     "Toxiproxy backend: auto (the real toxiproxy-server ./run installed into the cache, else one on PATH, "
     "else embedded; default), embedded, "
     "real, or the http:// URL of a running Toxiproxy API"),
    ("--execserver-seed", "execserver_seed",
     "seed for fault schedules (default: random, printed in the header and on failures)"),
    ("--execserver-mode", "execserver_mode",
     "client output mode: event-stream (default), legacy-read, or both (every test runs in both)"),
    ("--execserver-budget-scale", "execserver_budget_scale",
     f"multiply every latency budget by this factor (also env {BUDGET_SCALE_ENV}; default 1.0)"),
    ("--execserver-report", "execserver_report",
     "write the fault x invariant matrix, latency table and span coverage as JSON to this path"),
    ("--execserver-artifacts", "execserver_artifacts",
     f"where failing tests' history, spans and server log are saved (default {DEFAULT_ARTIFACTS}/)"),
    ("--execserver-shrink-budget", "execserver_shrink_budget",
     f"seconds --execserver-shrink may spend on one failing test (default {DEFAULT_SHRINK_BUDGET_S:g})"),
    ("--execserver-client", "execserver_client",
     "client under test for exec_subject: ours (default), ours:legacy-read, or a command with {url} speaking "
     "the line protocol (README, 'Test your own client')"),
    # topology: pytest_execserver.glue.topology (--execserver-topology relay)
    ("--execserver-topology", "execserver_topology",
     "how the client reaches the server: direct (ws://, default) or relay (codex's remote path through our "
     "registry and rendezvous relay; needs --execserver-client codex; docs/remote.md, 'Topology')"),
]


def addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("execserver", "exec-server harness (pytest-execserver)")
    for opt, ini, help_text in _OPTIONS:
        group.addoption(opt, dest=ini, default=None, help=help_text)
        parser.addini(ini, help=help_text, type="string", default="")
    for opt, ini, help_text in _FLAGS:
        group.addoption(opt, dest=ini, action="store_true", default=None, help=help_text)
        parser.addini(ini, help=help_text, type="bool", default=False)


# on/off options: (option, ini name, help); the command line wins over the ini file
_FLAGS: list[tuple[str, str, str]] = [
    ("--execserver-unconfined", "execserver_unconfined",
     "DANGEROUS: start servers without confinement (no bubblewrap, no unprivileged user). A server "
     "under test runs arbitrary commands; only use this inside a disposable VM or container"),
    ("--execserver-otel-global", "execserver_otel_global",
     "make the harness's OpenTelemetry tracer provider the process's global one (default: spans go to a "
     "provider of its own, so the project's own set_tracer_provider is untouched)"),
    ("--execserver-shrink", "execserver_shrink",
     "when a test with a fault_schedule fails, re-run it (fresh server and proxy each time) with smaller "
     "schedules and report the smallest that still fails, as a pasteable @pytest.mark.fault_schedule(...)"),
    ("--execserver-skip-unavailable", "execserver_skip_unavailable",
     "skip the tests that need a server or client under test that cannot be had (e.g. codex without npm); "
     "without it such a run stops at once with the reason, so it never passes by skipping"),
]


def _flag(config: pytest.Config, name: str) -> bool:
    """An on/off option: the command line if given, else its ini twin."""
    given = config.getoption(name)
    return bool(given) if given is not None else bool(config.getini(name))


@dataclass(frozen=True)
class Settings:
    """The validated harness configuration of one session."""

    server: str = "ref"
    server_kind: str = "ref"  # "ref", "codex", "codex@VERSION" or the full command
    server_args: tuple[str, ...] = ()
    toxiproxy: str = "auto"
    seed: int = 0
    seed_given: bool = False
    mode: str = "event-stream"
    budget_scale: float = 1.0
    report: Path | None = None
    unconfined: bool = False
    artifacts: Path = field(default_factory=lambda: Path(DEFAULT_ARTIFACTS))
    otel_global: bool = False
    shrink: bool = False
    shrink_budget_s: float = DEFAULT_SHRINK_BUDGET_S
    skip_unavailable: bool = False
    topology: str = "direct"  # glue/topology.py

    @property
    def modes(self) -> tuple[str, ...]:
        return MODES if self.mode == "both" else (self.mode,)

    def header(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "server": self.server,
            "toxiproxy": self.toxiproxy,
            "mode": self.mode,
            "budget_scale": self.budget_scale,
            "unconfined": self.unconfined,
            "topology": self.topology,
        }


def _raw(config: pytest.Config, ini: str) -> tuple[str | None, str]:
    """(value, where) from the command line or the ini file."""
    value = config.getoption(ini)
    if value is not None:
        return str(value), "--" + ini.replace("_", "-")
    ini_value = config.getini(ini)
    if isinstance(ini_value, str) and ini_value.strip():
        return ini_value.strip(), f"ini option {ini}"
    return None, ""


def parse_server(
    value: str, where: str = "--execserver-server", base: str | None = None
) -> tuple[str, tuple[str, ...]]:
    """``'ref --inject-bug reorder'`` -> ``("ref", ("--inject-bug", "reorder"))``; a command stays whole, its
    relative paths made absolute against ``base`` (where pytest started: the server runs in scratch)."""
    try:
        tokens = shlex.split(value)
    except ValueError as exc:
        raise pytest.UsageError(f"{where}: cannot parse {value!r}: {exc}") from exc
    if not tokens:
        raise pytest.UsageError(f"{where}: empty server; use ref, codex or a command")
    if tokens[0] in ("ref", "codex"):
        return tokens[0], tuple(tokens[1:])
    if tokens[0].startswith("codex@"):
        try:
            from pytest_execserver.servers.codex import check_version  # lazy: the entry module stays light

            check_version(tokens[0].removeprefix("codex@"))
        except ValueError as exc:
            raise pytest.UsageError(f"{where}: {exc}") from exc
        return tokens[0], tuple(tokens[1:])
    from pytest_execserver.servers.command import MissingPathError, resolve_paths

    try:
        return shlex.join(resolve_paths(tokens, base or os.getcwd(), ("{listen}",))), ()
    except MissingPathError as exc:
        raise pytest.UsageError(f"{where}: {exc}") from None


def new_seed() -> int:
    """A fresh random session seed (printed in the report header so a run can be repeated)."""
    return secrets.randbelow(2**32)


def settings_from_config(config: pytest.Config, worker_seed: int | None = None) -> Settings:
    """Read and validate every option; raise :class:`pytest.UsageError` on a bad value."""
    server, where = _raw(config, "execserver_server")
    server = "ref" if server is None else server
    kind, args = parse_server(server, where or "--execserver-server", str(config.invocation_params.dir))

    toxiproxy, where = _raw(config, "execserver_toxiproxy")
    toxiproxy = toxiproxy or "auto"
    if toxiproxy not in TOXIPROXY_BACKENDS and not toxiproxy.startswith(("http://", "https://")):
        raise pytest.UsageError(
            f"{where}: {toxiproxy!r} is not a Toxiproxy backend; use auto, embedded, real or an http:// URL"
        )

    seed_raw, where = _raw(config, "execserver_seed")
    if seed_raw is not None:
        try:
            seed = int(seed_raw, 0)
        except ValueError as exc:
            raise pytest.UsageError(f"{where}: seed must be a non-negative integer, got {seed_raw!r}") from exc
        if seed < 0:
            raise pytest.UsageError(f"{where}: seed must be a non-negative integer, got {seed_raw!r}")
        seed_given = True
    else:
        seed, seed_given = (worker_seed if worker_seed is not None else new_seed()), False

    mode, where = _raw(config, "execserver_mode")
    mode = mode or "event-stream"
    if mode not in MODE_CHOICES:
        raise pytest.UsageError(f"{where}: unknown mode {mode!r}; use {', '.join(MODE_CHOICES)}")

    scale_raw = config.getoption("execserver_budget_scale")
    where = "--execserver-budget-scale"
    if scale_raw is None and os.environ.get(BUDGET_SCALE_ENV, "").strip():
        scale_raw, where = os.environ[BUDGET_SCALE_ENV].strip(), f"environment variable {BUDGET_SCALE_ENV}"
    if scale_raw is None:
        scale_raw, where = _raw(config, "execserver_budget_scale")
    scale = 1.0
    if scale_raw is not None:
        try:
            scale = float(scale_raw)
        except ValueError as exc:
            raise pytest.UsageError(f"{where}: budget scale must be a positive number, got {scale_raw!r}") from exc
        if not (scale > 0 and scale != float("inf")):
            raise pytest.UsageError(f"{where}: budget scale must be a positive number, got {scale_raw!r}")

    report_raw, _ = _raw(config, "execserver_report")
    artifacts_raw, _ = _raw(config, "execserver_artifacts")
    report = _resolve(report_raw) if report_raw else None
    artifacts = _resolve(artifacts_raw or DEFAULT_ARTIFACTS)

    unconfined = _flag(config, "execserver_unconfined")
    otel_global = _flag(config, "execserver_otel_global")
    shrink = _flag(config, "execserver_shrink")
    skip_unavailable = _flag(config, "execserver_skip_unavailable")
    return Settings(server, kind, args, toxiproxy, seed, seed_given, mode, scale, report, unconfined, artifacts,
                    otel_global, shrink=shrink, shrink_budget_s=_shrink_budget(config),
                    skip_unavailable=skip_unavailable, topology=_topology(config))


def _topology(config: pytest.Config) -> str:
    from pytest_execserver.glue.topology import DEFAULT_TOPOLOGY, client_problem, topology_problem

    value, where = _raw(config, "execserver_topology")
    if value is None:
        return DEFAULT_TOPOLOGY
    problem = topology_problem(value)
    if problem is not None:
        raise pytest.UsageError(f"{where}: {problem}")
    problem = client_problem(value, _raw(config, "execserver_client")[0])
    if problem is not None:
        raise pytest.UsageError(problem)
    return value


def _shrink_budget(config: pytest.Config) -> float:
    raw, where = _raw(config, "execserver_shrink_budget")
    if raw is None:
        return DEFAULT_SHRINK_BUDGET_S
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not (0 < value < float("inf")):
        raise pytest.UsageError(f"{where}: the shrink budget must be a positive number of seconds, got {raw!r}")
    return value


def _resolve(value: str) -> Path:
    """Relative paths are relative to the invocation directory."""
    path = Path(value).expanduser()
    return path if path.is_absolute() else Path.cwd() / path
