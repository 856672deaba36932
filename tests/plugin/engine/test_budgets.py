"""Latency budgets: percentiles and scaled comparisons (no I/O)."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_execserver.checks.budgets import (
    BudgetError,
    LatencyBudget,
    LatencyStats,
    check_budget,
    check_budgets,
    percentile,
    phase_durations,
    phase_op,
)
from tests.plugin.engine.hist import H


def test_percentile() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == pytest.approx(50.5)
    assert percentile(values, 100) == 100
    assert percentile([3.0], 95) == 3.0
    with pytest.raises(ValueError):
        percentile([], 50)


def test_stats() -> None:
    s = LatencyStats.of([1.0, 2.0, 3.0, 4.0])
    assert s is not None and s.n == 4 and s.max == 4.0 and s.p50 == 2.5
    assert LatencyStats.of([]) is None
    assert "n=4" in s.describe()


def test_within_and_over_budget_scaled() -> None:
    durations = [10.0] * 18 + [100.0, 100.0]
    ok = check_budget(LatencyBudget("rpc", p50=20, max=200), durations)
    assert ok.ok and "within budget" in ok.message()
    bad = check_budget(LatencyBudget("rpc", p95=20), durations)
    assert not bad.ok
    msg = bad.message()
    assert "phase 'rpc'" in msg and "n=20" in msg and "p95=" in msg and "exceeds budget 20.0 ms" in msg
    assert "by " in msg  # the margin
    assert check_budget(LatencyBudget("rpc", p95=20), durations, scale=10).ok


def test_min_samples() -> None:
    r = check_budget(LatencyBudget("process", max=1000, min_samples=5), [1.0, 2.0])
    assert not r.ok and "only 2 sample(s) of phase 'process', need min_samples=5" in r.message()
    assert not check_budget(LatencyBudget("connect", max=5), []).ok
    assert check_budget(LatencyBudget("connect", max=5, min_samples=0), []).ok


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"phase": "teleport", "max": 1}, "unknown latency phase 'teleport'"),
        ({"phase": "rpc", "p95": -1}, "p95 must be >= 0 ms"),
        ({"phase": "rpc", "p95": "fast"}, "p95 must be a number"),
        ({"phase": "rpc"}, "give at least one of"),
        ({"phase": "rpc", "max": 1, "min_samples": -1}, "min_samples must be an integer >= 0"),
        ({"phase": "rpc", "max": 1, "min_samples": 1.5}, "min_samples must be an integer"),
    ],
)
def test_bad_budgets(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(BudgetError, match=message.replace("(", r"\(")):
        LatencyBudget(**kwargs)


def test_phases_from_history() -> None:
    h = H()
    h.add("invoke", "connect", at=0).add("ok", "connect", at=5)
    h.add("invoke", "rpc:process/start", id=1, at=10).add("ok", "rpc:process/start", id=1, at=13)
    h.add("invoke", "rpc:process/read", id=2, at=20).add("ok", "rpc:process/read", id=2, at=30)
    h.add("invoke", "process", pid="p", at=10).add("ok", "process", pid="p", at=110)
    assert phase_durations(h.events, "connect") == [5.0]
    assert phase_durations(h.events, "rpc") == [3.0, 10.0]
    assert phase_durations(h.events, "rpc:process/read") == [10.0]
    assert phase_durations(h.events, "process") == [100.0]
    assert phase_op("first_output") == "first_output"
    results = check_budgets(h.events, [LatencyBudget("rpc", max=5)], scale=1.0)
    assert not results[0].ok and "max=10.0 ms exceeds budget 5.0 ms" in results[0].message()
