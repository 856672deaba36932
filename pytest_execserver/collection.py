"""At collection: validate the harness markers and give each harness test its state (seed, faults, mode)."""

from __future__ import annotations

import pytest

from pytest_execserver import markers
from pytest_execserver.options import Settings
from pytest_execserver.runstate import TestState
from pytest_execserver.schedule import derive_seed, draw_schedule


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


def build_state(item: pytest.Item, settings: Settings) -> TestState:
    """The harness state of one (validated) test."""
    chaos = markers.parse_chaos(item)
    seed = chaos.seed if chaos is not None and chaos.seed is not None else derive_seed(settings.seed, item.nodeid)
    state = TestState(item.nodeid, seed, markers.parse_faults(item), chaos, budgets=markers.parse_budgets(item))
    if chaos is not None:
        state.schedule = draw_schedule(seed, chaos.kinds, duration_ms=chaos.duration_ms, count=chaos.count)
    callspec = getattr(item, "callspec", None)
    if callspec is not None and "exec_mode" in callspec.params:
        state.mode = str(callspec.params["exec_mode"])
    else:
        modes = markers.marker_modes(item, item.get_closest_marker("exec_mode"))
        state.mode = modes[0] if modes else settings.modes[0]  # the exec_mode fixture's fallback
    return state
