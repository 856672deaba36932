"""Chaos matrix fixtures. Workloads and checks live in ``chaos_kit`` (imported by the test modules).

Every test here runs in both client modes (``exec_mode("both")`` on each module) and against whichever
server ``--execserver-server`` selects; the plugin checks the invariants over each test's history.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from chaos_kit import Workload, run_all, run_workload

from pytest_execserver.client import ExecClient, ProcessResult
from pytest_execserver.invariants import ExecHistory


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
