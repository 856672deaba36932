"""Run one test again with a given schedule, in a fresh ``pytest`` subprocess, and say how it ended.

Each run is its own pytest session, so it starts its own server and Toxiproxy (fresh state, nothing left
over from the failing run or from the previous candidate). The subprocess loads
:mod:`pytest_execserver.shrink.replay_plugin`, which puts the candidate schedule in place of the test's
drawn one -- the same :func:`~pytest_execserver.faults.schedule.draw_schedule` call a pasted
``@pytest.mark.fault_schedule(Fault(..., at_ms=...), ...)`` makes -- and writes the outcome to a JSON file.

Two failures are "the same" when their :func:`failure_signature` is equal: the names of the invariants
violated (or latency budgets missed) for a harness check failure, else the exception's type.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pytest_execserver.faults.kinds import Fault
from pytest_execserver.glue.options import Settings
from pytest_execserver.glue.runstate import ExecServerCheckFailed, TestState

REPLAY_OPTION = "--execserver-replay"
PLUGIN = "pytest_execserver.shrink.replay_plugin"


def failure_signature(call: pytest.CallInfo[None], state: TestState | None) -> str:
    """What kind of failure this is (compared between the original run and each candidate's)."""
    excinfo = call.excinfo
    if excinfo is None:
        return "passed"
    if excinfo.errisinstance(ExecServerCheckFailed) and state is not None:
        broken = sorted(n for n, vs in (state.record.get("invariants") or {}).items() if vs)
        missed = sorted(str(b["phase"]) for b in state.record.get("budgets") or [] if not b.get("ok"))
        if state.fault_errors:
            return "fault injection failed"
        return "; ".join(filter(None, [
            f"invariants {', '.join(broken)}" if broken else "", f"budgets {', '.join(missed)}" if missed else "",
        ])) or "execserver checks"
    kind = excinfo.type
    return f"{kind.__module__}.{kind.__qualname__}"


@dataclass(frozen=True)
class Outcome:
    """How one replay ended: ``failed``/``passed``/``error``/``timeout``, and the failure's signature."""

    outcome: str
    signature: str
    seconds: float


def passed_on(args: Sequence[str]) -> list[str]:
    """The ``-p NAME`` and ``-o INI=VALUE`` arguments of the original invocation (plugins, ini overrides)."""
    out: list[str] = []
    for i, arg in enumerate(args):
        for short, long in (("-p", None), ("-o", "--override-ini")):
            if arg in (short, long) and i + 1 < len(args):
                out += [short, args[i + 1]]
            elif arg.startswith(short) and len(arg) > 2:
                out += [short, arg[2:]]
            elif long is not None and arg.startswith(long + "="):
                out += [short, arg[len(long) + 1:]]
    return out


def _harness_args(settings: Settings, artifacts: Path) -> list[str]:
    args = ["--execserver-server", settings.server, "--execserver-toxiproxy", settings.toxiproxy,
            "--execserver-seed", str(settings.seed), "--execserver-mode", settings.mode,
            "--execserver-budget-scale", repr(settings.budget_scale), "--execserver-artifacts", str(artifacts)]
    return [*args, "--execserver-unconfined"] if settings.unconfined else args


class Replayer:
    """Runs ``nodeid`` with candidate schedules, one subprocess each, files under ``workdir``."""

    def __init__(self, config: pytest.Config, settings: Settings, nodeid: str, workdir: Path) -> None:
        self.config = config
        self.settings = settings
        self.nodeid = nodeid
        self.workdir = workdir
        self.runs = 0

    def command(self, spec: Path) -> list[str]:
        config = self.config
        path, _, rest = self.nodeid.partition("::")
        target = str(config.rootpath / path) + (f"::{rest}" if rest else "")
        ini = ["-c", str(config.inipath)] if config.inipath else []
        return [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--no-header",
                *passed_on([str(a) for a in config.invocation_params.args]),
                "-p", PLUGIN, REPLAY_OPTION, str(spec), "-o", "execserver_shrink=false",
                *_harness_args(self.settings, self.workdir / f"artifacts-{self.runs}"),
                "--rootdir", str(config.rootpath), *ini, target]

    def run(self, faults: tuple[Fault, ...], timeout_s: float) -> Outcome:
        """Run the test once under exactly ``faults`` (timed); kill it after ``timeout_s``."""
        self.runs += 1
        self.workdir.mkdir(parents=True, exist_ok=True)
        spec = self.workdir / f"run-{self.runs}.json"
        result = self.workdir / f"run-{self.runs}.result.json"
        spec.write_text(json.dumps({"nodeid": self.nodeid, "faults": [f.describe() for f in faults],
                                    "result": str(result)}, indent=1))
        started = time.monotonic()
        log = (self.workdir / f"run-{self.runs}.log").open("wb")
        with log:
            proc = subprocess.Popen(self.command(spec), cwd=self.config.invocation_params.dir, stdout=log,
                                    stderr=subprocess.STDOUT, start_new_session=True)
            try:
                proc.wait(timeout=max(timeout_s, 1.0))
            except subprocess.TimeoutExpired:
                _stop(proc)
                return Outcome("timeout", "timeout", time.monotonic() - started)
            except BaseException:  # Ctrl-C while a run is going: stop it (and its servers) too
                _stop(proc)
                raise
        seconds = time.monotonic() - started
        try:
            data: dict[str, Any] = json.loads(result.read_text())
        except (OSError, ValueError):
            return Outcome("error", f"no result (exit status {proc.returncode})", seconds)
        return Outcome(str(data["outcome"]), str(data["signature"]), seconds)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the run's process group (its pytest stops its servers), then SIGKILL what is left."""
    for sig, wait_s in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait_s)
            return
        except subprocess.TimeoutExpired:
            continue
