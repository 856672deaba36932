"""At collection: validate the harness markers and give each harness test its state (seed, faults, mode)."""

from __future__ import annotations

import pytest

from pytest_execserver.faults.kinds import Fault
from pytest_execserver.faults.schedule import derive_seed, draw_schedule
from pytest_execserver.glue import markers
from pytest_execserver.glue.markers import CHAOS_PARAM
from pytest_execserver.glue.options import Settings
from pytest_execserver.glue.runstate import TestState


def exec_mode_params(metafunc: pytest.Metafunc, default: tuple[str, ...]) -> list[str] | None:
    """The modes to parametrize ``exec_mode`` with, or None (one mode, or parametrized by the test)."""
    for mark in metafunc.definition.iter_markers("parametrize"):
        names = mark.args[0] if mark.args else mark.kwargs.get("argnames", "")
        names = [n.strip() for n in names.split(",")] if isinstance(names, str) else list(names)
        if "exec_mode" in names:
            return None  # parametrized by the test itself (validated at collection)
    try:
        modes = markers.marker_modes(metafunc.definition, metafunc.definition.get_closest_marker("exec_mode"))
    except pytest.UsageError:
        return None  # reported by pytest_collection_modifyitems
    modes = modes or default
    return list(modes) if len(modes) > 1 else None


def chaos_params(metafunc: pytest.Metafunc) -> tuple[list[Fault], list[str]] | None:
    """``chaos(*faults)``: the faults to parametrize ``exec_fault`` with and their ids, or None."""
    if metafunc.definition.get_closest_marker("chaos") is None:
        return None
    for mark in metafunc.definition.iter_markers("parametrize"):
        names = mark.args[0] if mark.args else mark.kwargs.get("argnames", "")
        names = [n.strip() for n in names.split(",")] if isinstance(names, str) else list(names)
        if CHAOS_PARAM in names:
            return None  # parametrized by the test itself
    try:
        return markers.parse_chaos(metafunc.definition)
    except pytest.UsageError:
        return None  # reported by pytest_collection_modifyitems


def build_state(item: pytest.Item, settings: Settings) -> TestState:
    """The harness state of one (validated) test."""
    spec = markers.parse_schedule(item)
    seed = spec.seed if spec is not None and spec.seed is not None else derive_seed(settings.seed, item.nodeid)
    faults = markers.parse_faults(item)
    callspec = getattr(item, "callspec", None)
    chaos_fault = callspec.params.get(CHAOS_PARAM) if callspec is not None else None
    if isinstance(chaos_fault, Fault):
        faults.append(chaos_fault)
    state = TestState(item.nodeid, seed, faults, spec, budgets=markers.parse_budgets(item))
    state.chaos_fault = chaos_fault if isinstance(chaos_fault, Fault) else None
    if spec is not None:
        state.schedule = draw_schedule(seed, spec.kinds, duration_ms=spec.duration_ms, count=spec.count)
    if callspec is not None and "exec_mode" in callspec.params:
        state.mode = str(callspec.params["exec_mode"])
    else:
        modes = markers.marker_modes(item, item.get_closest_marker("exec_mode"))
        state.mode = modes[0] if modes else settings.modes[0]  # the exec_mode fixture's fallback
    return state
