"""The harness's markers: strict parsing into typed values (the marks' names and help: :mod:`.marknames`).

Every marker is parsed at collection time; a malformed one raises :class:`pytest.UsageError` naming the
test, the marker and what is wrong, so a typo never silently turns a fault test into a no-fault test.
The ``*_from_args`` functions are the one validation of each marker's arguments; the decorators
(:mod:`pytest_execserver.decorators`) call them too, at decoration time.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pytest

from pytest_execserver.checks.budgets import PHASES, BudgetError, LatencyBudget
from pytest_execserver.faults.kinds import FAULT_KINDS, Fault, FaultError, example, kind_or_fault
from pytest_execserver.faults.schedule import DEFAULT_DURATION_MS
from pytest_execserver.glue.marknames import MARKERS, has_harness_marker, register
from pytest_execserver.glue.options import MODE_CHOICES, MODES

__all__ = ["MARKERS", "ScheduleSpec", "has_harness_marker", "register"]

CHAOS_PARAM = "exec_fault"  # the fixture chaos(...) parametrizes (the fault of this run, or None)


def detailed_help() -> dict[str, str]:
    """:data:`MARKERS` with the fault kinds spelled out (for ``pytest --markers``)."""
    out = dict(MARKERS)
    out["fault"] = out["fault"].replace("pytest --markers, or pytest_execserver.faults.kinds",
                                        f"{', '.join(FAULT_KINDS)} (parameters: pytest_execserver.faults.kinds)")
    return out


_SCHEDULE_KWARGS = ("seed", "duration_ms", "count")
_BUDGET_KWARGS = ("phase", "p50", "p95", "p99", "max", "min_samples")


@dataclass(frozen=True)
class ScheduleSpec:
    """A parsed ``fault_schedule`` marker."""

    kinds: tuple[str | Fault, ...]
    seed: int | None
    duration_ms: int
    count: int | None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# ------------------------------------------------------------------------------------ argument checks


def fault_from_args(args: Sequence[Any], kwargs: Mapping[str, Any], where: str) -> Fault:
    """``fault(kind, **params)`` or ``fault(Fault(...), **overrides)``."""
    __tracebackhide__ = True  # a decorator's mistake points at the test's line, not here
    if len(args) != 1:
        raise pytest.UsageError(
            f"{where}: expected exactly one positional argument (the kind, one of "
            f"{', '.join(FAULT_KINDS)}) or a Fault object, got {len(args)}"
        )
    (kind,) = args
    try:
        if isinstance(kind, Fault):
            return kind.replace(**kwargs) if kwargs else kind
        return Fault(kind, **kwargs)
    except FaultError as exc:
        raise pytest.UsageError(f"{where}: {exc}") from None  # one message, not two chained


def chaos_from_args(args: Sequence[Any], kwargs: Mapping[str, Any], where: str) -> tuple[list[Fault], list[str]]:
    """``chaos(*faults)``: the faults (a kind name stands for its example) and their test ids."""
    __tracebackhide__ = True  # a decorator's mistake points at the test's line, not here
    if kwargs:
        hint = (" (a seeded schedule of faults over time is fault_schedule(*kinds, seed=..., duration_ms=..., "
                "count=...))") if set(kwargs) & set(_SCHEDULE_KWARGS) else ""
        raise pytest.UsageError(
            f"{where}: takes faults only (kind names or Fault objects), got keyword(s) "
            f"{', '.join(sorted(kwargs))}{hint}"
        )
    if not args:
        raise pytest.UsageError(f"{where}: give at least one fault kind or Fault ({', '.join(FAULT_KINDS)})")
    faults: list[Fault] = []
    try:
        for arg in args:
            entry = kind_or_fault(arg)
            faults.append(example(entry) if isinstance(entry, str) else entry)
    except FaultError as exc:
        raise pytest.UsageError(f"{where}: {exc}") from None  # one message, not two chained
    kinds = [f.kind for f in faults]
    ids = [f.kind if kinds.count(f.kind) == 1 else f.label() for f in faults]
    if len(set(ids)) != len(ids):
        dup = sorted({i for i in ids if ids.count(i) > 1})
        raise pytest.UsageError(f"{where}: the same fault is given twice ({', '.join(dup)})")
    return faults, ids


def schedule_from_args(args: Sequence[Any], kwargs: Mapping[str, Any], where: str) -> ScheduleSpec:
    """``fault_schedule(*kinds_or_faults, seed=None, duration_ms=2000, count=None)``."""
    __tracebackhide__ = True  # a decorator's mistake points at the test's line, not here
    if not args:
        raise pytest.UsageError(f"{where}: give at least one fault kind or Fault ({', '.join(FAULT_KINDS)})")
    unknown = sorted(set(kwargs) - set(_SCHEDULE_KWARGS))
    if unknown:
        raise pytest.UsageError(
            f"{where}: unknown argument(s) {', '.join(unknown)}; accepted: {', '.join(sorted(_SCHEDULE_KWARGS))}"
        )
    try:
        kinds = tuple(kind_or_fault(k) for k in args)
    except FaultError as exc:
        raise pytest.UsageError(f"{where}: {exc}") from None  # one message, not two chained
    seed = kwargs.get("seed")
    if seed is not None and (not _is_int(seed) or seed < 0):
        raise pytest.UsageError(f"{where}: seed must be a non-negative integer or None, got {seed!r}")
    duration = kwargs.get("duration_ms", DEFAULT_DURATION_MS)
    if not _is_int(duration) or duration <= 0:
        raise pytest.UsageError(f"{where}: duration_ms must be a positive integer (ms), got {duration!r}")
    count = kwargs.get("count")
    if count is not None and (not _is_int(count) or count <= 0):
        raise pytest.UsageError(f"{where}: count must be a positive integer or None, got {count!r}")
    return ScheduleSpec(kinds, seed, duration, count)


def modes_from_args(args: Sequence[Any], kwargs: Mapping[str, Any], where: str) -> tuple[str, ...]:
    """``exec_mode(*modes)``, ``both`` expanded."""
    __tracebackhide__ = True  # a decorator's mistake points at the test's line, not here
    if kwargs:
        raise pytest.UsageError(f"{where}: takes mode names only, got keyword(s) {', '.join(kwargs)}")
    if not args:
        raise pytest.UsageError(f"{where}: give a mode: {', '.join(MODE_CHOICES)}")
    modes: list[str] = []
    for arg in args:
        if arg not in MODE_CHOICES:
            raise pytest.UsageError(f"{where}: unknown mode {arg!r}; use {', '.join(MODE_CHOICES)}")
        for m in MODES if arg == "both" else (arg,):
            if m not in modes:
                modes.append(m)
    return tuple(modes)


def budget_from_args(args: Sequence[Any], kwargs: Mapping[str, Any], where: str) -> LatencyBudget:
    """``latency_budget(phase, p50=None, p95=None, p99=None, max=None, min_samples=1)``."""
    __tracebackhide__ = True  # a decorator's mistake points at the test's line, not here
    params = dict(kwargs)
    if args:
        if len(args) > 1 or "phase" in params:
            raise pytest.UsageError(f"{where}: the only positional argument is the phase")
        params["phase"] = args[0]
    unknown = sorted(set(params) - set(_BUDGET_KWARGS))
    if unknown:
        raise pytest.UsageError(
            f"{where}: unknown argument(s) {', '.join(unknown)}; accepted: phase, p50, p95, p99, max, "
            "min_samples (all in ms)"
        )
    if "phase" not in params:
        raise pytest.UsageError(f"{where}: missing phase=...; phases: {', '.join(PHASES)} or rpc:<method>")
    if not isinstance(params["phase"], str):
        raise pytest.UsageError(f"{where}: phase must be a string, got {params['phase']!r}")
    try:
        return LatencyBudget(**params)
    except BudgetError as exc:
        raise pytest.UsageError(f"{where}: {exc}") from None  # one message, not two chained


# ------------------------------------------------------------------------------------ from test items


def _where(item: Any, mark: pytest.Mark) -> str:
    prefix = f"{item.nodeid}: " if item is not None else ""
    return f"{prefix}@pytest.mark.{mark.name}"


def parse_faults(item: pytest.Item) -> list[Fault]:
    """Every ``fault`` marker of ``item`` (closest first is pytest's order; we keep definition order)."""
    return [fault_from_args(m.args, m.kwargs, _where(item, m)) for m in reversed(list(item.iter_markers("fault")))]


def parse_chaos(item: Any) -> tuple[list[Fault], list[str]] | None:
    """The closest ``chaos`` marker: its faults and their ids, or None."""
    mark = item.get_closest_marker("chaos")
    return None if mark is None else chaos_from_args(mark.args, mark.kwargs, _where(item, mark))


def parse_schedule(item: pytest.Item) -> ScheduleSpec | None:
    mark = item.get_closest_marker("fault_schedule")
    return None if mark is None else schedule_from_args(mark.args, mark.kwargs, _where(item, mark))


def marker_modes(item: Any, mark: pytest.Mark | None) -> tuple[str, ...] | None:
    """Modes named by an ``exec_mode`` marker (``both`` expanded), or None without a marker."""
    return None if mark is None else modes_from_args(mark.args, mark.kwargs, _where(item, mark))


def parse_budgets(item: pytest.Item) -> list[LatencyBudget]:
    return [budget_from_args(m.args, m.kwargs, _where(item, m))
            for m in reversed(list(item.iter_markers("latency_budget")))]


def validate_items(items: Iterable[pytest.Item]) -> None:
    """Parse every harness marker of every item; the first problem becomes a UsageError."""
    for item in items:
        parse_faults(item)
        parse_chaos(item)
        parse_schedule(item)
        parse_budgets(item)
        marker_modes(item, item.get_closest_marker("exec_mode"))
        callspec = getattr(item, "callspec", None)
        if callspec is not None and "exec_mode" in callspec.params:
            mode = callspec.params["exec_mode"]
            if mode not in MODES:
                raise pytest.UsageError(
                    f"{item.nodeid}: parametrized exec_mode {mode!r} is not a mode; use {', '.join(MODES)}"
                )
        if callspec is not None and CHAOS_PARAM in callspec.params:
            fault = callspec.params[CHAOS_PARAM]
            if fault is not None and not isinstance(fault, Fault):
                raise pytest.UsageError(f"{item.nodeid}: parametrized {CHAOS_PARAM} {fault!r} is not a Fault")
