"""The harness's markers: registration (with help text) and strict parsing into typed values.

Every marker is parsed at collection time; a malformed one raises :class:`pytest.UsageError` naming the
test, the marker and what is wrong, so a typo never silently turns a fault test into a no-fault test.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pytest

from pytest_execserver.budgets import PHASES, BudgetError, LatencyBudget
from pytest_execserver.faults import FAULT_KINDS, Fault, FaultError, kind_or_fault
from pytest_execserver.marknames import MARKERS, has_harness_marker, register
from pytest_execserver.options import MODE_CHOICES, MODES
from pytest_execserver.schedule import DEFAULT_DURATION_MS

__all__ = ["MARKERS", "ChaosSpec", "has_harness_marker", "register"]

def detailed_help() -> dict[str, str]:
    """:data:`MARKERS` with the fault kinds and budget phases spelled out (for ``pytest --markers``)."""
    out = dict(MARKERS)
    out["fault"] = out["fault"].replace("pytest --markers, or pytest_execserver.faults",
                                        f"{', '.join(FAULT_KINDS)} (parameters: pytest_execserver.faults)")
    return out


_CHAOS_KWARGS = {"seed", "duration_ms", "count"}
_BUDGET_KWARGS = {"phase", "p50", "p95", "p99", "max", "min_samples"}


@dataclass(frozen=True)
class ChaosSpec:
    """A parsed ``chaos`` marker."""

    kinds: tuple[str | Fault, ...]
    seed: int | None
    duration_ms: int
    count: int | None


def _where(item: pytest.Item, mark: pytest.Mark) -> str:
    return f"{item.nodeid}: @pytest.mark.{mark.name}"


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def parse_faults(item: pytest.Item) -> list[Fault]:
    """Every ``fault`` marker of ``item`` (closest first is pytest's order; we keep definition order)."""
    out: list[Fault] = []
    for mark in reversed(list(item.iter_markers("fault"))):
        where = _where(item, mark)
        if len(mark.args) != 1:
            raise pytest.UsageError(
                f"{where}: expected exactly one positional argument (the kind, one of "
                f"{', '.join(FAULT_KINDS)}) or a Fault object, got {len(mark.args)}"
            )
        (kind,) = mark.args
        try:
            if isinstance(kind, Fault):
                out.append(kind.replace(**mark.kwargs) if mark.kwargs else kind)
            else:
                out.append(Fault(kind, **mark.kwargs))
        except FaultError as exc:
            raise pytest.UsageError(f"{where}: {exc}") from exc
    return out


def parse_chaos(item: pytest.Item) -> ChaosSpec | None:
    mark = item.get_closest_marker("chaos")
    if mark is None:
        return None
    where = _where(item, mark)
    if not mark.args:
        raise pytest.UsageError(f"{where}: give at least one fault kind or Fault ({', '.join(FAULT_KINDS)})")
    unknown = sorted(set(mark.kwargs) - _CHAOS_KWARGS)
    if unknown:
        raise pytest.UsageError(
            f"{where}: unknown argument(s) {', '.join(unknown)}; accepted: {', '.join(sorted(_CHAOS_KWARGS))}"
        )
    try:
        kinds = tuple(kind_or_fault(k) for k in mark.args)
    except FaultError as exc:
        raise pytest.UsageError(f"{where}: {exc}") from exc
    seed = mark.kwargs.get("seed")
    if seed is not None and (not _is_int(seed) or seed < 0):
        raise pytest.UsageError(f"{where}: seed must be a non-negative integer or None, got {seed!r}")
    duration = mark.kwargs.get("duration_ms", DEFAULT_DURATION_MS)
    if not _is_int(duration) or duration <= 0:
        raise pytest.UsageError(f"{where}: duration_ms must be a positive integer (ms), got {duration!r}")
    count = mark.kwargs.get("count")
    if count is not None and (not _is_int(count) or count <= 0):
        raise pytest.UsageError(f"{where}: count must be a positive integer or None, got {count!r}")
    return ChaosSpec(kinds, seed, duration, count)


def marker_modes(item: pytest.Item | None, mark: pytest.Mark | None) -> tuple[str, ...] | None:
    """Modes named by an ``exec_mode`` marker (``both`` expanded), or None without a marker."""
    if mark is None:
        return None
    where = _where(item, mark) if item is not None else f"@pytest.mark.{mark.name}"
    if mark.kwargs:
        raise pytest.UsageError(f"{where}: takes mode names only, got keyword(s) {', '.join(mark.kwargs)}")
    if not mark.args:
        raise pytest.UsageError(f"{where}: give a mode: {', '.join(MODE_CHOICES)}")
    modes: list[str] = []
    for arg in mark.args:
        if arg not in MODE_CHOICES:
            raise pytest.UsageError(f"{where}: unknown mode {arg!r}; use {', '.join(MODE_CHOICES)}")
        for m in MODES if arg == "both" else (arg,):
            if m not in modes:
                modes.append(m)
    return tuple(modes)


def parse_budgets(item: pytest.Item) -> list[LatencyBudget]:
    out: list[LatencyBudget] = []
    for mark in reversed(list(item.iter_markers("latency_budget"))):
        where = _where(item, mark)
        kwargs = dict(mark.kwargs)
        if mark.args:
            if len(mark.args) > 1 or "phase" in kwargs:
                raise pytest.UsageError(f"{where}: the only positional argument is the phase")
            kwargs["phase"] = mark.args[0]
        unknown = sorted(set(kwargs) - _BUDGET_KWARGS)
        if unknown:
            raise pytest.UsageError(
                f"{where}: unknown argument(s) {', '.join(unknown)}; accepted: phase, p50, p95, p99, max, "
                "min_samples (all in ms)"
            )
        if "phase" not in kwargs:
            raise pytest.UsageError(f"{where}: missing phase=...; phases: {', '.join(PHASES)} or rpc:<method>")
        if not isinstance(kwargs["phase"], str):
            raise pytest.UsageError(f"{where}: phase must be a string, got {kwargs['phase']!r}")
        try:
            out.append(LatencyBudget(**kwargs))
        except BudgetError as exc:
            raise pytest.UsageError(f"{where}: {exc}") from exc
    return out


def validate_items(items: Iterable[pytest.Item]) -> None:
    """Parse every harness marker of every item; the first problem becomes a UsageError."""
    for item in items:
        parse_faults(item)
        parse_chaos(item)
        parse_budgets(item)
        marker_modes(item, item.get_closest_marker("exec_mode"))
        callspec = getattr(item, "callspec", None)
        if callspec is not None and "exec_mode" in callspec.params:
            mode = callspec.params["exec_mode"]
            if mode not in MODES:
                raise pytest.UsageError(
                    f"{item.nodeid}: parametrized exec_mode {mode!r} is not a mode; use {', '.join(MODES)}"
                )
