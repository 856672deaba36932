"""Per-session and per-test state shared by the plugin's hooks and fixtures (held in pytest stashes)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:  # annotations only: this module is imported by the plugin module, which must stay light
    from pytest_execserver.checks.budgets import LatencyBudget
    from pytest_execserver.checks.invariants import ExecHistory
    from pytest_execserver.faults.kinds import Fault
    from pytest_execserver.faults.schedule import ScheduledFault
    from pytest_execserver.glue.markers import ScheduleSpec
    from pytest_execserver.glue.options import Settings


class ExecServerCheckFailed(AssertionError):
    """An invariant or latency budget failed after the test body passed."""


@dataclass
class TestState:
    """What the plugin knows about one test: its markers, seed, history and outcome data."""

    nodeid: str
    seed: int
    faults: list[Fault] = field(default_factory=list)
    schedule_spec: ScheduleSpec | None = None  # the fault_schedule marker
    chaos_fault: Fault | None = None  # this run's fault from chaos(...)
    schedule: list[ScheduledFault] = field(default_factory=list)
    budgets: list[LatencyBudget] = field(default_factory=list)
    mode: str | None = None
    history: ExecHistory | None = None
    server_log: Path | None = None
    server_log_offset: int = 0
    journal: Path | None = None  # the reference server's journal; the test's part starts at journal_offset
    journal_offset: int = 0
    applied_kinds: set[str] = field(default_factory=set)
    fault_errors: list[str] = field(default_factory=list)  # the injector's errors (same list object)
    record: dict[str, Any] = field(default_factory=dict)  # results, attached to the call report
    start_timeline: Callable[[], None] | None = None  # set by exec_proxy: starts the marker faults' clock

    __test__ = False  # not a test class

    def fault_kinds(self) -> list[str]:
        kinds = {f.kind for f in self.faults} | {s.fault.kind for s in self.schedule} | self.applied_kinds
        return sorted(kinds)


SETTINGS_KEY: pytest.StashKey[Settings] = pytest.StashKey()
TEST_KEY: pytest.StashKey[TestState] = pytest.StashKey()
# What this process really started: part ("toxiproxy", "server", "confinement") -> Component.to_json()
RAN_KEY: pytest.StashKey[dict[str, dict[str, Any]]] = pytest.StashKey()
# On the controller: worker id ("main" without xdist) -> that process's RAN_KEY
RAN_BY_WORKER_KEY: pytest.StashKey[dict[str, dict[str, dict[str, Any]]]] = pytest.StashKey()


def record_ran(config: pytest.Config, part: str, component: dict[str, Any]) -> None:
    """Note that this process started ``part`` as ``component`` (the reports say what each worker ran)."""
    if RAN_KEY not in config.stash:
        config.stash[RAN_KEY] = {}
    config.stash[RAN_KEY][part] = component


def worker_id(config: pytest.Config) -> str:
    """The xdist worker id (``gw0``...), or ``main`` without xdist."""
    workerinput = getattr(config, "workerinput", None)
    return str(workerinput["workerid"]) if workerinput else "main"
