"""Running the paced command through the Codex CLI client on the remote path, and the bar it is held to."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_execserver.servers.relay_topology import RelayProcess
from pytest_execserver.subjects.base import Outcome, RunRequest
from pytest_execserver.subjects.codex import CodexHang
from pytest_execserver.subjects.relay import RelayCodexSubject

LINES = 12
PACED = ["/bin/sh", "-c", f"for i in $(seq 1 {LINES}); do echo line-$i; sleep 0.05; done; exit 4"]
PACED_OUTPUT = "".join(f"line-{i}\n" for i in range(1, LINES + 1)).encode()
TIMEOUT_MS = 6_000  # the run's own budget; codex gets START_MARGIN_S on top
START_MARGIN_S = 12.0


@dataclass
class Run:
    outcome: Outcome | None
    hang: CodexHang | None
    elapsed_s: float

    def describe(self) -> str:
        if self.hang is not None:
            return f"codex silent for {self.elapsed_s:.1f} s (killed): {str(self.hang)[:300]}"
        assert self.outcome is not None
        return (f"after {self.elapsed_s:.1f} s: exit {self.outcome.exit_code}, error {self.outcome.error}, "
                f"{len(self.outcome.stdout)} bytes {self.outcome.stdout[:80]!r}")


async def run_paced(client: RelayCodexSubject, scratch: Path, timeout_ms: int = TIMEOUT_MS,
                    margin_s: float = START_MARGIN_S, argv: list[str] | None = None) -> Run:
    client.start_margin_s = margin_s
    started = time.monotonic()
    request = RunRequest(argv=argv or PACED, cwd=scratch.as_uri(), timeout_ms=timeout_ms)
    try:
        outcome = await client.run(request)
    except CodexHang as hang:
        return Run(None, hang, time.monotonic() - started)
    return Run(outcome, None, time.monotonic() - started)


def delivered_or_reported(run: Run, expected: bytes = PACED_OUTPUT) -> bool:
    """The bar: byte-exact output with the exit code, or a failure codex reported (not silence)."""
    if run.hang is not None or run.outcome is None:
        return False
    if run.outcome.error is not None:  # a failure codex reported; "still running" after exit is not one
        return run.outcome.error.type != "StillRunning"
    return (run.outcome.exit_code, run.outcome.stdout) == (4, expected)


def delivered(run: Run) -> bool:
    return run.outcome is not None and run.outcome.error is None and \
        (run.outcome.exit_code, run.outcome.stdout) == (4, PACED_OUTPUT)


def fired(relay: RelayProcess) -> list[dict[str, Any]]:
    return [f for f in relay.faults() if f.get("times", 1) == 0]


def named(relay: RelayProcess, event: str) -> list[dict[str, Any]]:
    return relay.events(event)
