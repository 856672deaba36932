"""Latency budgets over history durations: percentiles per phase, compared with a scaled budget.

Phases map onto history operations (see :mod:`pytest_execserver.checks.history`):
``connect`` (TCP), ``ws_handshake``, ``initialize``, ``rpc`` (every ``rpc:<method>``), ``process``
(``process/start`` sent to ``closed`` delivered) and ``first_output``. ``rpc:<method>`` names one method.
All values are milliseconds; budgets are multiplied by the budget scale (``--execserver-budget-scale``
or ``EXECSERVER_BUDGET_SCALE``) so slow CI machines can loosen every budget at once.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pytest_execserver.checks.history import HistoryEvent, durations_ms

PHASES: dict[str, str] = {
    "connect": "connect",
    "ws_handshake": "ws_handshake",
    "initialize": "initialize",
    "rpc": "rpc:*",
    "process": "process",
    "first_output": "first_output",
}
PERCENTILES = ("p50", "p95", "p99", "max")


class BudgetError(ValueError):
    """A latency budget was described badly (unknown phase, negative or non-numeric limit...)."""


def phase_op(phase: str) -> str:
    """The history op pattern of a phase (``rpc:process/start`` selects one RPC method)."""
    if phase in PHASES:
        return PHASES[phase]
    if phase.startswith("rpc:") and len(phase) > 4:
        return phase
    raise BudgetError(
        f"unknown latency phase {phase!r}; known phases: {', '.join(PHASES)} (or rpc:<method>)"
    )


@dataclass(frozen=True)
class LatencyBudget:
    """Limits in ms for one phase; ``None`` means no limit for that percentile."""

    phase: str
    p50: float | None = None
    p95: float | None = None
    p99: float | None = None
    max: float | None = None
    min_samples: int = 1

    def __post_init__(self) -> None:
        phase_op(self.phase)
        limits = {name: getattr(self, name) for name in PERCENTILES}
        for name, value in limits.items():
            if value is None:
                continue
            if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
                raise BudgetError(f"latency_budget({self.phase!r}): {name} must be a number of ms, "
                                  f"got {value!r}")
            if value < 0:
                raise BudgetError(f"latency_budget({self.phase!r}): {name} must be >= 0 ms, got {value!r}")
        if all(v is None for v in limits.values()):
            raise BudgetError(f"latency_budget({self.phase!r}): give at least one of p50, p95, p99, max")
        if not isinstance(self.min_samples, int) or isinstance(self.min_samples, bool) or self.min_samples < 0:
            raise BudgetError(f"latency_budget({self.phase!r}): min_samples must be an integer >= 0, "
                              f"got {self.min_samples!r}")

    def limits(self) -> dict[str, float]:
        return {name: float(getattr(self, name)) for name in PERCENTILES if getattr(self, name) is not None}


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (``q`` in 0..100) of a non-empty sequence."""
    if not values:
        raise ValueError("percentile of no values")
    ordered = sorted(values)
    if len(ordered) == 1:
        return float(ordered[0])
    rank = (len(ordered) - 1) * q / 100.0
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return float(ordered[low] + (ordered[high] - ordered[low]) * (rank - low))


@dataclass(frozen=True)
class LatencyStats:
    n: int
    p50: float
    p95: float
    p99: float
    max: float

    @classmethod
    def of(cls, values: Sequence[float]) -> LatencyStats | None:
        if not values:
            return None
        return cls(len(values), percentile(values, 50), percentile(values, 95), percentile(values, 99),
                   float(max(values)))

    def to_json(self) -> dict[str, Any]:
        return {"n": self.n, "p50": self.p50, "p95": self.p95, "p99": self.p99, "max": self.max}

    def describe(self) -> str:
        return f"n={self.n} p50={self.p50:.1f} p95={self.p95:.1f} p99={self.p99:.1f} max={self.max:.1f} ms"


@dataclass(frozen=True)
class BudgetResult:
    budget: LatencyBudget
    scale: float
    stats: LatencyStats | None
    n: int
    failures: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.failures

    def message(self) -> str:
        stats = self.stats.describe() if self.stats else f"n={self.n}"
        head = f"latency budget for phase {self.budget.phase!r} (scale {self.scale:g}): {stats}"
        if self.ok:
            return head + ": within budget"
        return head + "\n" + "\n".join(f"  - {f}" for f in self.failures)


def phase_durations(events: Iterable[HistoryEvent], phase: str) -> list[float]:
    return durations_ms(events, phase_op(phase))


def check_budget(budget: LatencyBudget, durations: Sequence[float], scale: float = 1.0) -> BudgetResult:
    """Compare the percentiles of ``durations`` with ``budget`` x ``scale``."""
    stats = LatencyStats.of(durations)
    failures: list[str] = []
    n = len(durations)
    if n < budget.min_samples:
        failures.append(
            f"only {n} sample(s) of phase {budget.phase!r}, need min_samples={budget.min_samples}"
            " (did the test exercise this phase?)"
        )
    if stats is None or failures:
        return BudgetResult(budget, scale, stats, n, tuple(failures))
    for name, limit in budget.limits().items():
        scaled = limit * scale
        actual = float(getattr(stats, name))
        if actual > scaled:
            failures.append(
                f"{name}={actual:.1f} ms exceeds budget {scaled:.1f} ms "
                f"({limit:g} ms x scale {scale:g}) by {actual - scaled:.1f} ms"
            )
    return BudgetResult(budget, scale, stats, n, tuple(failures))


def check_budgets(
    events: Sequence[HistoryEvent], budgets: Iterable[LatencyBudget], scale: float = 1.0
) -> list[BudgetResult]:
    return [check_budget(b, phase_durations(events, b.phase), scale) for b in budgets]
