"""The harness's marker names and their ``pytest --markers`` help (no imports: the plugin module needs them
at configure time in every session, and must stay light)."""

from __future__ import annotations

from collections.abc import Iterable

MARKERS: dict[str, str] = {
    "fault": (
        "fault(kind, **params): inject a fault through the exec_proxy for this test, e.g. "
        "fault('latency', ms=100, jitter=20, direction='both'), fault('disconnect', after_ms=200, mode='reset'), "
        "fault('receiver_lag', pause_ms=500). "
        "Kinds and parameters: pytest --markers, or pytest_execserver.faults.kinds."
    ),
    "chaos": (
        "chaos(*kinds_or_Faults): run the test once under each fault (ids named after the faults; a kind "
        "name stands for its example fault); the exec_fault fixture gives the run's fault."
    ),
    "fault_schedule": (
        "fault_schedule(*kinds_or_Faults, seed=None, duration_ms=2000, count=None): a seeded schedule of "
        "faults over duration_ms (same seed -> same schedule; the seed defaults to one derived from "
        "--execserver-seed and the test id, and is printed on failure with the schedule as Faults with "
        "at_ms, which replay as given when pasted back)."
    ),
    "exec_mode": (
        "exec_mode(*modes): client output mode(s) for this test: 'event-stream', 'legacy-read', or "
        "'both'; several modes parametrize the test."
    ),
    "latency_budget": (
        "latency_budget(phase=..., p50=None, p95=None, p99=None, max=None, min_samples=1): fail the test "
        "when the phase's latency percentiles (ms, times --execserver-budget-scale) exceed the budget. "
        "Phases: connect, ws_handshake, initialize, rpc or rpc:<method>, process, first_output."
    ),
    # issue 23 (load and resource budgets): parsed by glue/load_markers.py
    "resource_budget": (
        "resource_budget(rss_mb=None, fds=None, threads=None, descendants=None, idle_cpu_pct=None, "
        "fd_growth=None, grace_s=2.0, idle_s=0.5): sample the exec_server process tree from /proc during and "
        "after the test; fail the test when a budget is exceeded (descendants: processes the server started "
        "still alive after the test; fd_growth: fds at the end minus at the start)."
    ),
    "load": (
        "load(clients=N, processes_per_client=None, duration_s=None, rate=None, p95_ms=None, thresholds=(), "
        "payload_bytes=64, group=None): the load the exec_load fixture runs through exec_proxy "
        "(`result = await exec_load()`); thresholds are k6-style ('p99_ms<=500', 'throughput>=20'); "
        "errors==0 is checked unless a threshold names errors or error_rate."
    ),
}


def has_harness_marker(item: object) -> bool:
    """Whether a pytest item carries any of the harness's markers."""
    get = getattr(item, "get_closest_marker", None)
    return get is not None and any(get(name) is not None for name in MARKERS)


def register(config: object, help_texts: dict[str, str] | None = None) -> None:
    """Register the markers on a ``pytest.Config`` (with ``help_texts``, default :data:`MARKERS`)."""
    for name, help_text in (help_texts or MARKERS).items():
        config.addinivalue_line("markers", f"{name}: {help_text}")  # type: ignore[attr-defined]


def registered_markers(config: object) -> set[str]:
    """The marker names registered on a ``pytest.Config`` (pytest's own, plugins', the project's ini)."""
    lines = config.getini("markers")  # type: ignore[attr-defined]
    return {line.split(":", 1)[0].split("(", 1)[0].strip() for line in lines}


def misspelled_marker(items: Iterable[object], registered: set[str]) -> str | None:
    """The first unregistered marker that is a near miss of one of ours, as a usage error's message, or None.

    ``@pytest.mark.faults("latency")`` would otherwise run with no fault and pass with one
    ``PytestUnknownMarkWarning``: a test must never pass silently without the fault it asked for."""
    import difflib

    for item in items:
        marks = item.iter_markers() if hasattr(item, "iter_markers") else getattr(item, "own_markers", ())
        for mark in marks:
            if mark.name in registered or mark.name in MARKERS:
                continue
            close = difflib.get_close_matches(mark.name, list(MARKERS), n=1, cutoff=0.75)
            if close:
                return (f"{getattr(item, 'nodeid', item)}: unknown marker {mark.name!r}: did you mean "
                        f"{close[0]!r}? (pytest-execserver's markers: {', '.join(MARKERS)})")
    return None
