"""Chaos matrix fixtures. Workloads and checks live in ``chaos_kit`` (imported by the test modules).

Every test here runs in both client modes (``exec_mode("both")`` on each module) and against whichever
server ``--execserver-server`` selects; the plugin checks the invariants over each test's history.
codex's cross-stream wire order is allowed by the ``ordered_output`` check itself (see
:mod:`pytest_execserver.invariants`), so no server gets special treatment here.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_execserver.client import ExecClient
from pytest_execserver.invariants import ExecHistory
from tests.chaos.chaos_kit import Chaos


@pytest.fixture
def chaos(exec_client: ExecClient, exec_history: ExecHistory, exec_scratch: Path) -> Chaos:
    return Chaos(exec_client, exec_history, exec_scratch)
