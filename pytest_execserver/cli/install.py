"""``python -m pytest_execserver install codex[@VERSION] | toxiproxy | bubblewrap``: the optional parts.

Everything the harness can use beyond the pip package: the real codex (npm registry, cached per version),
the real Toxiproxy (``go install``, cached) and bubblewrap (apt, as root; otherwise the command to run is
printed). Each says what it is doing, how big the result is and how long it took.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

from pytest_execserver.cli.progress import elapsed, human, size_of, step

USAGE = "usage: python -m pytest_execserver install codex[@VERSION] | toxiproxy | bubblewrap"


def install_codex(version: str | None) -> int:
    from pytest_execserver.servers import codex

    try:
        concrete = codex.resolve_version(codex.check_version(version) if version else None)
    except (codex.CodexUnavailable, ValueError) as exc:
        print(f"codex: {exc}", file=sys.stderr)
        return 1
    target = codex.cached_binary_path(concrete)
    if os.access(target, os.X_OK):
        print(f"codex {concrete}: already cached at {target}")
        return 0
    started = time.monotonic()
    try:
        with step(f"Downloading codex {concrete} ({codex.platform_package(concrete)}, about 450 MB "
                  f"unpacked) with npm pack into {target.parents[2]}"):
            path = codex.codex_binary(concrete)
    except (codex.CodexUnavailable, ValueError) as exc:
        print(f"codex: {exc}", file=sys.stderr)
        return 1
    print(f"codex {concrete}: {path} ({human(size_of(path.parents[1]))} unpacked, {elapsed(started)})")
    return 0


def install_toxiproxy() -> int:
    from pytest_execserver.faults import install_toxiproxy as toxi

    cached = toxi.cached_binary()
    if cached is not None:
        print(f"toxiproxy: already installed at {cached} ({toxi.TOXIPROXY_VERSION})")
        return 0
    go = shutil.which("go")
    if go is None:
        print(f"toxiproxy: Go is not installed, so {toxi.BINARY_NAME} {toxi.TOXIPROXY_VERSION} cannot be built; "
              "install Go >= 1.23 (https://go.dev/dl/) and run this again. Until then the embedded Toxiproxy "
              "is used.", file=sys.stderr)
        return 1
    started = time.monotonic()
    try:
        with step(f"Building {toxi.TOXIPROXY_MODULE}/cmd/server@{toxi.TOXIPROXY_VERSION} with {go} "
                  "(the first build downloads its modules, 1-3 min)"):
            path = toxi.install(go)
    except toxi.ToxiproxyUnavailable as exc:
        print(f"toxiproxy: {exc}", file=sys.stderr)
        return 1
    print(f"toxiproxy: {path} ({human(size_of(path))}, {elapsed(started)})")
    return 0


def install_bubblewrap() -> int:
    from pytest_execserver.servers import confine

    installed = confine.bwrap_installed()
    if installed is not None and not confine.bwrap_trial(installed):
        print(f"bubblewrap: {installed} is installed and works")
        return 0
    if installed is not None:
        print(f"bubblewrap: {installed} is installed but does not work here ({confine.bwrap_trial(installed)}); "
              "allow unprivileged user namespaces for it (Ubuntu 24.04: an AppArmor profile for bwrap, or "
              "sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0)", file=sys.stderr)
        return 1
    apt = shutil.which("apt-get")
    if os.geteuid() != 0 or apt is None:
        command = "sudo apt-get install -y bubblewrap" if apt else "install bubblewrap with your package manager"
        print(f"bubblewrap: not installed; run: {command}", file=sys.stderr)
        return 1
    started = time.monotonic()
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for argv in ([apt, "update", "-qq"], [apt, "install", "-y", "-qq", "bubblewrap"]):
        with step(f"Running {' '.join(argv)}"):
            done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=900)
        if done.returncode != 0:
            print(f"bubblewrap: {' '.join(argv)} failed: {done.stderr.strip()[-600:]}", file=sys.stderr)
            return 1
    confine.bwrap_trial.cache_clear()
    path = confine.bwrap_installed()
    failed = confine.bwrap_trial(path) if path else "not on PATH after apt-get install"
    if failed:
        print(f"bubblewrap: installed, but a trial run fails: {failed}", file=sys.stderr)
        return 1
    print(f"bubblewrap: {path} ({elapsed(started)})")
    return 0


def main(args: list[str]) -> int:
    if len(args) != 1:
        print(USAGE, file=sys.stderr)
        return 2
    part, _, version = args[0].partition("@")
    if part == "codex":
        return install_codex(version or None)
    if version:
        print(f"install: only codex takes a version; {USAGE}", file=sys.stderr)
        return 2
    if part == "toxiproxy":
        return install_toxiproxy()
    if part == "bubblewrap":
        return install_bubblewrap()
    print(f"install: unknown part {part!r}; {USAGE}", file=sys.stderr)
    return 2
