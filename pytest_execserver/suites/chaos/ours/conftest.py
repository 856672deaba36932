"""Chaos matrix fixtures. Workloads and checks live in ``chaos_kit`` (imported by the test modules).

Every test here runs in both client modes (``exec_mode("both")`` on each module) and against whichever
server ``--execserver-server`` selects; the plugin checks the invariants over each test's history.
codex's cross-stream wire order is allowed by the ``ordered_output`` check itself (see
:mod:`pytest_execserver.checks.invariants`), so no server gets special treatment here.
"""

from pytest_execserver.suites.chaos.ours.chaos_kit import chaos

__all__ = ["chaos"]
