"""pytest-execserver: a pytest plugin and fault-injection harness for exec-servers.

The markers as decorators (same marks, real signatures): ``from pytest_execserver import fault, chaos,
fault_schedule, exec_mode, latency_budget, Fault``. They are loaded on first access, so importing the
package (which pytest does for the plugin) stays free.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pytest_execserver.decorators import chaos, exec_mode, fault, fault_schedule, latency_budget
    from pytest_execserver.faults.kinds import Fault

__all__ = ["Fault", "chaos", "exec_mode", "fault", "fault_schedule", "latency_budget"]

_LAZY = {"Fault": "pytest_execserver.faults.kinds", **dict.fromkeys(
    ("chaos", "exec_mode", "fault", "fault_schedule", "latency_budget"), "pytest_execserver.decorators")}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'pytest_execserver' has no attribute {name!r}")
