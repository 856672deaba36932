"""The harness's markers as decorators with real signatures: ``from pytest_execserver import fault``.

Each returns the very ``pytest.mark.<name>(...)`` mark, arguments left at their defaults left out (usable
on a test, a class, in ``pytestmark`` or in ``pytest.param(marks=...)``), after checking its arguments
with the markers' own validation (:mod:`pytest_execserver.glue.markers`): a bad value is a
:class:`pytest.UsageError` at decoration, with the same message as the marker's; an unknown keyword is
Python's ``TypeError``.
"""

from __future__ import annotations

from typing import Any, Literal

import pytest

from pytest_execserver.faults.kinds import Fault
from pytest_execserver.faults.schedule import DEFAULT_DURATION_MS
from pytest_execserver.glue.markers import (
    budget_from_args,
    chaos_from_args,
    fault_from_args,
    modes_from_args,
    schedule_from_args,
)

Mode = Literal["event-stream", "legacy-read", "both"]


def fault(kind: str | Fault, /, **params: Any) -> pytest.MarkDecorator:
    """Run the test under one fault, applied through ``exec_proxy`` (several ``@fault`` stack).

    ``kind``: ``latency``, ``bandwidth``, ``slicer``, ``disconnect``, ``down``, ``receiver_lag`` (or a
    :class:`~pytest_execserver.faults.kinds.Fault`, with ``params`` overriding its parameters). Parameters per kind:
    :mod:`pytest_execserver.faults.kinds`, e.g. ``@fault("latency", ms=50, jitter=10)``,
    ``@fault("disconnect", at_ms=200, mode="reset")``, ``@fault("receiver_lag", pause_ms=500)``.
    """
    __tracebackhide__ = True
    fault_from_args((kind,), params, "@fault")
    return pytest.mark.fault(kind, **params)


def chaos(*faults: str | Fault) -> pytest.MarkDecorator:
    """Run the test once under each fault: ``@chaos("latency", "disconnect", Fault("down", duration_ms=300))``.

    Test ids are named after the faults (``test_x[latency]``); a kind name stands for its example fault
    (:data:`pytest_execserver.faults.kinds.KINDS`); the ``exec_fault`` fixture gives the run's fault.
    """
    __tracebackhide__ = True
    chaos_from_args(faults, {}, "@chaos")
    return pytest.mark.chaos(*faults)


def fault_schedule(*faults: str | Fault, seed: int | None = None, duration_ms: int = DEFAULT_DURATION_MS,
                   count: int | None = None) -> pytest.MarkDecorator:
    """A seeded schedule of faults over ``duration_ms``, one after another (same seed, same schedule).

    Kind names get seeded parameters and times; a :class:`~pytest_execserver.faults.kinds.Fault` keeps its
    parameters and gets a seeded time, unless it was given ``at_ms`` (then it runs at that time): the
    schedule printed on failure pastes back as ``@fault_schedule(Fault(..., at_ms=...), ...)``. ``seed``
    defaults to one derived from ``--execserver-seed`` and the test id; ``count`` to one fault per 400 ms.
    """
    __tracebackhide__ = True
    kwargs = {"seed": seed, "duration_ms": duration_ms, "count": count}
    schedule_from_args(faults, kwargs, "@fault_schedule")
    defaults = {"seed": None, "duration_ms": DEFAULT_DURATION_MS, "count": None}
    return pytest.mark.fault_schedule(*faults, **{k: v for k, v in kwargs.items() if v != defaults[k]})


def exec_mode(*modes: Mode) -> pytest.MarkDecorator:
    """The client output mode(s): ``"event-stream"``, ``"legacy-read"`` or ``"both"``; several parametrize."""
    __tracebackhide__ = True
    modes_from_args(modes, {}, "@exec_mode")
    return pytest.mark.exec_mode(*modes)


def latency_budget(phase: str, *, p50: float | None = None, p95: float | None = None, p99: float | None = None,
                   max: float | None = None, min_samples: int = 1) -> pytest.MarkDecorator:
    """Fail the test when the phase's latency percentiles (ms) exceed these limits.

    ``phase``: ``connect``, ``ws_handshake``, ``initialize``, ``rpc`` (or ``rpc:<method>``), ``process``
    (start to closed), ``first_output``. Limits are multiplied by ``--execserver-budget-scale``; fewer than
    ``min_samples`` samples fails too. E.g. ``@latency_budget("process", p95=200)``.
    """
    __tracebackhide__ = True
    kwargs = {"p50": p50, "p95": p95, "p99": p99, "max": max, "min_samples": min_samples}
    budget_from_args((), {"phase": phase, **kwargs}, "@latency_budget")
    given = {k: v for k, v in kwargs.items() if v is not None and not (k == "min_samples" and v == 1)}
    return pytest.mark.latency_budget(phase=phase, **given)
