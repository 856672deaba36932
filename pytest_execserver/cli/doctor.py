"""``python -m pytest_execserver doctor [--json]``: what this machine has, and what each part will use.

Modelled on ``codex doctor``: one row per part (status ``ok``, ``warn`` or ``missing``), a detail, and for a
missing part the exact command that adds it. :func:`probe` looks at the machine once; :func:`rows` is pure
(facts in, rows out) and unit-tested alone. Exit status 0 when the defaults can run: the reference server,
the embedded Toxiproxy and some confinement.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

OK, WARN, MISSING = "ok", "warn", "missing"
INSTALL = "python -m pytest_execserver install"
OTLP_VARS = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_TRACES_EXPORTER",
             "OTEL_SDK_DISABLED")


@dataclass(frozen=True)
class Facts:
    """What :func:`probe` found (plain data, so tests can write any machine down)."""

    root: bool
    confinement: str | None  # "bwrap", "unprivileged-user", "none"; None when no confinement is possible
    confinement_why: str
    session_check: str  # "" when a server's Python starts confined, else why not
    bwrap: str | None  # the installed binary
    bwrap_trial: str  # "" when it works, else why not
    apt: bool
    codex_default: str
    codex_cached: dict[str, str]  # version -> binary
    codex_override: str | None  # $EXECSERVER_CODEX_BIN
    cache: str
    npm: str | None
    toxiproxy_real: str | None
    toxiproxy_version: str | None
    toxiproxy_pinned: str
    go: str | None
    go_version: str | None
    embedded_toxiproxy: str | None  # the pytoxiproxy package folder
    ref_server: str | None  # the execserver_ref package folder
    otlp_env: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Row:
    """One check: a part, its status, what was found, and the command that fixes it (if any)."""

    part: str
    status: str
    detail: str
    fix: str = ""
    required: bool = False  # the defaults cannot run without it


def rows(f: Facts) -> list[Row]:
    """The checks, in the order printed (pure)."""
    sudo = "" if f.root else "sudo "
    out = [
        Row("reference server", OK if f.ref_server else MISSING, f.ref_server or "execserver_ref is not importable",
            "" if f.ref_server else "pip install pytest-execserver", required=True),
        _confinement_row(f),
    ]
    if f.bwrap and not f.bwrap_trial:
        out.append(Row("bubblewrap", OK, f"{f.bwrap} (a trial run works)"))
    elif f.bwrap:
        out.append(Row("bubblewrap", WARN, f"{f.bwrap} is installed but a trial run fails: {f.bwrap_trial}",
                       "allow unprivileged user namespaces for bwrap (Ubuntu 24.04: an AppArmor profile for "
                       f"/usr/bin/bwrap, or {sudo}sysctl -w kernel.apparmor_restrict_unprivileged_userns=0)"))
    else:
        fix = f"{INSTALL} bubblewrap" if f.root and f.apt else f"{sudo}apt-get install -y bubblewrap"
        out.append(Row("bubblewrap", WARN, "not installed (servers fall back to an unprivileged user)", fix))
    out.append(_codex_row(f))
    out.append(Row("npm", OK, f.npm) if f.npm else
               Row("npm", WARN, "not installed: only cached codex versions can be used (a run that asks for "
                   "another stops with this reason, or skips under --execserver-skip-unavailable)",
                   f"{sudo}apt-get install -y npm"))
    if f.toxiproxy_real:
        out.append(Row("toxiproxy (real)", OK, f"{f.toxiproxy_real} {f.toxiproxy_version or '(version unknown)'}"))
    else:
        fix = f"{INSTALL} toxiproxy" if f.go else f"install Go >= 1.23 (https://go.dev/dl/), then {INSTALL} toxiproxy"
        out.append(Row("toxiproxy (real)", WARN,
                       f"toxiproxy-server {f.toxiproxy_pinned} not installed: the embedded one is used", fix))
    out.append(Row("go", OK, f"{f.go} ({f.go_version or 'version unknown'})") if f.go else
               Row("go", WARN, "not installed: the real toxiproxy-server cannot be built",
                   "install Go >= 1.23 (https://go.dev/dl/)"))
    out.append(Row("toxiproxy (embedded)", OK if f.embedded_toxiproxy else MISSING,
                   f.embedded_toxiproxy or "pytoxiproxy is not importable",
                   "" if f.embedded_toxiproxy else "pip install pytest-execserver", required=True))
    out.append(_otlp_row(f.otlp_env))
    return out


def _confinement_row(f: Facts) -> Row:
    if f.confinement is None or f.session_check:
        why = "; ".join(x for x in (f.confinement_why, f.session_check) if x)
        return Row("confinement", MISSING, f"servers cannot start confined: {why}",
                   f"{INSTALL} bubblewrap" if f.root else "see docs/first-use.md", required=True)
    if f.confinement == "none":
        return Row("confinement", WARN, f"none: {f.confinement_why}", required=True)
    weak = f.confinement == "unprivileged-user" and not f.root
    return Row("confinement", WARN if weak else OK, f"{f.confinement}: {f.confinement_why}",
               "install bubblewrap for a read-only root (sudo apt-get install -y bubblewrap)" if weak else "",
               required=True)


def _codex_row(f: Facts) -> Row:
    if f.codex_override:
        return Row("codex", OK, f"$EXECSERVER_CODEX_BIN={f.codex_override}")
    versions = ", ".join(sorted(f.codex_cached)) or "none"
    if f.codex_default in f.codex_cached:
        return Row("codex", OK, f"{f.codex_cached[f.codex_default]} (default {f.codex_default}); "
                                f"cached versions: {versions}")
    return Row("codex", WARN, f"default {f.codex_default} not cached (codex tests skip); cached versions in "
                              f"{f.cache}: {versions}",
               f"{INSTALL} codex@{f.codex_default}" + ("" if f.npm else " (needs npm)"))


def _otlp_row(env: dict[str, str]) -> Row:
    endpoint = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    if env.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return Row("otlp endpoint", OK, "OTEL_SDK_DISABLED=true: spans stay in the harness")
    if endpoint or "otlp" in env.get("OTEL_TRACES_EXPORTER", "").lower():
        return Row("otlp endpoint", OK, f"spans are also exported to {endpoint or 'the OTLP default (localhost:4318)'}")
    return Row("otlp endpoint", OK, "not set: spans stay in the harness (set OTEL_EXPORTER_OTLP_ENDPOINT to export)")


def defaults_can_run(checks: list[Row]) -> bool:
    """The reference server, the embedded Toxiproxy and a confinement are all there."""
    return all(r.status != MISSING for r in checks if r.required)


def probe(unconfined: bool = False) -> Facts:
    """Look at this machine (runs bwrap's trial, a confined Python, ``go version``; fetches nothing)."""
    from pytest_execserver.faults.backend import binary_version, real_binary
    from pytest_execserver.faults.install_toxiproxy import TOXIPROXY_VERSION
    from pytest_execserver.servers import codex
    from pytest_execserver.servers.confine import (
        ConfinementError,
        bwrap_installed,
        bwrap_trial,
        check_session,
        confinement_report,
    )

    bwrap = bwrap_installed()
    mode: str | None
    try:
        kind, why = confinement_report(unconfined)
        mode = kind.value
    except ConfinementError as exc:
        mode, why = None, str(exc)
    session = ""
    if mode is not None:
        try:
            check_session(unconfined)
        except ConfinementError as exc:
            session = str(exc)
    cached = {d.name.removeprefix("codex-"): str(codex.cached_binary_path(d.name.removeprefix("codex-")))
              for d in sorted(codex.cache_dir().glob("codex-*"))
              if os.access(codex.cached_binary_path(d.name.removeprefix("codex-")), os.X_OK)}
    toxi = real_binary()
    go = shutil.which("go")
    return Facts(
        root=os.geteuid() == 0, confinement=mode, confinement_why=why, session_check=session,
        bwrap=bwrap, bwrap_trial=bwrap_trial(bwrap) if bwrap else "", apt=shutil.which("apt-get") is not None,
        codex_default=codex.DEFAULT_VERSION, codex_cached=cached,
        codex_override=os.environ.get("EXECSERVER_CODEX_BIN"), cache=str(codex.cache_dir()),
        npm=shutil.which("npm"), toxiproxy_real=toxi, toxiproxy_version=binary_version(toxi) if toxi else None,
        toxiproxy_pinned=TOXIPROXY_VERSION, go=go, go_version=_go_version(go) if go else None,
        embedded_toxiproxy=_package_folder("pytoxiproxy"), ref_server=_package_folder("execserver_ref"),
        otlp_env={k: v for k, v in os.environ.items() if k in OTLP_VARS},
    )


def _go_version(go: str) -> str | None:
    try:
        done = subprocess.run([go, "version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    words = done.stdout.split()
    return words[2] if done.returncode == 0 and len(words) > 2 else None


def _package_folder(name: str) -> str | None:
    import importlib.util

    spec = importlib.util.find_spec(name)
    return str(Path(spec.origin).parent) if spec is not None and spec.origin else None


def render(checks: list[Row]) -> str:
    """One screen: a line per part, its fix indented below it, then the verdict."""
    width = max(len(r.part) for r in checks)
    lines = ["pytest-execserver doctor"]
    for r in checks:
        lines.append(f"  {r.status:<8}{r.part:<{width}}  {r.detail}")
        if r.fix:
            lines.append(f"  {'':<8}{'':<{width}}  fix: {r.fix}")
    verdict = "can run" if defaults_can_run(checks) else "CANNOT run (see the missing parts above)"
    lines.append(f"defaults (reference server + embedded Toxiproxy + confinement): {verdict}")
    return "\n".join(lines)


def main(args: list[str]) -> int:
    """``doctor [--json] [--unconfined]``."""
    unknown = [a for a in args if a not in ("--json", "--unconfined")]
    if unknown:
        print(f"doctor: unknown argument {unknown[0]!r}; usage: doctor [--json] [--unconfined]", file=sys.stderr)
        return 2
    checks = rows(probe("--unconfined" in args))
    if "--json" in args:
        print(json.dumps({"checks": [asdict(r) for r in checks], "defaults_can_run": defaults_can_run(checks)},
                         indent=2))
    else:
        print(render(checks))
    return 0 if defaults_can_run(checks) else 1
