"""Chaos matrix fixtures. Workloads and checks live in ``chaos_kit`` (imported by the test modules).

Every test here runs in both client modes (``exec_mode("both")`` on each module) and against whichever
server ``--execserver-server`` selects; the plugin checks the invariants over each test's history.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from chaos_kit import Workload, run_all, run_workload

from pytest_execserver.client import ExecClient, ProcessResult
from pytest_execserver.invariants import ExecHistory
from pytest_execserver.plugin import ExecServerCheckFailed
from pytest_execserver.runstate import SETTINGS_KEY


@dataclass
class Chaos:
    """The usual trio for one test: the client, its history and the scratch dir the server may use."""

    client: ExecClient
    history: ExecHistory
    scratch: Path

    async def run(self, workload: Workload, timeout: float = 30.0) -> ProcessResult:
        return await run_workload(self.client, self.history, workload, self.scratch, timeout)

    async def run_all(self, *workloads: Workload, timeout: float = 30.0) -> list[ProcessResult]:
        return await run_all(self.client, self.history, workloads, self.scratch, timeout)


@pytest.fixture
def chaos(exec_client: ExecClient, exec_history: ExecHistory, exec_scratch: Path) -> Chaos:
    return Chaos(exec_client, exec_history, exec_scratch)


# ------------------------------------------------------------------------------------- codex wire order

# codex 0.169.0 swaps adjacent notifications on the wire (e.g. the stderr chunk with seq n+1 before the stdout
# chunk with seq n; seen without any fault). The client reassembles and delivers in order, but the
# ordered_output wire check counts it as a server violation.
CODEX_WIRE_REORDER = "codex 0.169.0 sends process/* notifications out of seq order on the wire (adjacent swaps)"
_WIRE_REORDER = "on the wire (reordered; server violation)"


def _only_codex_wire_reorders(item: pytest.Item, call: pytest.CallInfo[None], record: dict[str, Any]) -> bool:
    """The test body passed and the only finding of the plugin's checks is codex's wire reordering."""
    settings = item.config.stash.get(SETTINGS_KEY, None)
    if settings is None or settings.server_kind != "codex" or call.excinfo is None:
        return False
    if not call.excinfo.errisinstance(ExecServerCheckFailed):
        return False  # the test body itself failed: never excused
    invariants = record.get("invariants") or {}
    found = [v for vs in invariants.values() for v in vs]
    budgets_ok = all(b.get("ok") for b in record.get("budgets") or [])
    return bool(found) and budgets_ok and all(
        v["invariant"] == "ordered_output" and _WIRE_REORDER in v["message"] for v in found
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    """Against codex, a test whose only failure is the wire reorder above is reported as xfail (the matrix
    still counts the ordered_output failure); anything else -- lost, duplicated or corrupted bytes, a budget,
    a hang -- still fails."""
    report: pytest.TestReport = yield
    record = getattr(report, "execserver", None)
    if report.when == "call" and report.failed and isinstance(record, dict) and _only_codex_wire_reorders(
        item, call, record
    ):
        report.outcome = "skipped"
        report.wasxfail = CODEX_WIRE_REORDER  # type: ignore[attr-defined]
    return report
