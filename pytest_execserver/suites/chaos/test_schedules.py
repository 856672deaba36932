"""A seeded schedule of faults over time (``@pytest.mark.fault_schedule``), for any client: latency with
jitter, bandwidth limits, slicing and receiver lag come and go while the client runs one process after
another; every run must complete byte-exact. Same seed, same schedule (``--execserver-seed`` for the one
without its own); with ``--execserver-shrink`` a failure shrinks to the faults that matter.

Cuts are left out on purpose: a cut while ``process/start`` is in flight leaves its outcome unknown, and
what a client should do then (not run a command twice; tell its caller) is the subject of
``test_cuts.py`` and the codex findings, not of a random schedule.
"""

from __future__ import annotations

import time

import pytest

from pytest_execserver.glue.fixtures import ExecProxy
from pytest_execserver.subjects.run import RecordingSubject
from pytest_execserver.suites.chaos.kit import paced_workload, run_checked, seq_workload

pytestmark = pytest.mark.asyncio

SHAPING = ("latency", "bandwidth", "slicer", "receiver_lag")
WINDOW_MS = 2400
STREAM = paced_workload(40, per_batch=100, sleep_s=0.025)  # ~1 s, ~23 KB stdout, 40 stderr lines


def schedule(name: str, seed: int | None) -> object:
    marks = [pytest.mark.fault_schedule(*SHAPING, seed=seed, duration_ms=WINDOW_MS),
             pytest.mark.latency_budget("process", max=WINDOW_MS + 20000, min_samples=2)]
    return pytest.param(seed, id=name, marks=marks)


@pytest.mark.parametrize("seed", [schedule("seed5", 5), schedule("session-seed", None)])
async def test_seeded_schedule_keeps_every_byte(exec_subject: RecordingSubject, exec_proxy: ExecProxy,
                                                seed: int | None) -> None:
    started = time.monotonic()
    runs = 0  # the seed is the marker's; the parameter only names the case
    while runs < 2 or time.monotonic() - started < WINDOW_MS / 1000:  # runs under whatever fault is on
        await run_checked(exec_subject, STREAM if runs % 2 == 0 else seq_workload(4000))
        runs += 1
    applied = {f.kind for f in exec_proxy.injector.applied}
    assert set(SHAPING) <= applied, f"schedule kinds {set(SHAPING) - applied} never applied"
    assert not exec_proxy.injector.errors, f"fault injector errors: {exec_proxy.injector.errors}"
