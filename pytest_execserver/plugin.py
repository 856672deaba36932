"""pytest-execserver: ``pytest -p execserver`` (also auto-loaded through the ``pytest11`` entry point).

Hooks only; the work is done elsewhere: options (:mod:`.options`), markers (:mod:`.markers`), fixtures
(:mod:`.fixtures`), faults (:mod:`.faults`, :mod:`.injector`, :mod:`.schedule`), post-test checks
(:mod:`.invariants`, :mod:`.budgets`), spans (:mod:`.otel`), failure artifacts (:mod:`.artifacts`) and the
session summary (:mod:`.report`).

After each test that used the harness (``exec_history``, hence ``exec_client``), the invariants run over
its history and its ``latency_budget`` markers are checked; a violation fails the *test* (raised at the end
of the call phase, so it is reported as a failure, not a teardown error).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Generator
from typing import Any

import pytest

from pytest_execserver import artifacts, markers, otel
from pytest_execserver.budgets import PHASES, check_budgets, phase_durations
from pytest_execserver.confine import ConfinementError, choose_confinement
from pytest_execserver.fixtures import (  # noqa: F401 - fixtures are found on the plugin module
    UNCONFINED_WARNING,
    ExecServerUnconfinedWarning,
    _execserver_clients,
    _execserver_proxy_slot,
    _execserver_servers,
    _execserver_toxiproxy,
    exec_client,
    exec_client_factory,
    exec_history,
    exec_mode,
    exec_proxy,
    exec_scratch,
    exec_server,
    toxiproxy,
    worker_id,
)
from pytest_execserver.history import HistoryEvent, durations_ms
from pytest_execserver.invariants import check_all, fault_kind, format_violations
from pytest_execserver.options import Settings, addoption, settings_from_config
from pytest_execserver.report import Summary, report_outcome
from pytest_execserver.runstate import SETTINGS_KEY, TEST_KEY, TestState
from pytest_execserver.schedule import derive_seed, draw_schedule, format_schedule
from pytest_execserver.toxi import ToxiproxyError, select_backend

SUMMARY_KEY = pytest.StashKey[Summary]()
_MAX_DURATIONS = 5000  # per phase per test, shipped to the controller under xdist


class ExecServerCheckFailed(AssertionError):
    """An invariant or latency budget failed after the test body passed."""


# --------------------------------------------------------------------------------------- configuration


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    """The fixtures need pytest-asyncio: load it too when plugin autoloading is disabled."""
    if os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD") and not pluginmanager.has_plugin("asyncio"):
        with contextlib.suppress(Exception):
            pluginmanager.load_setuptools_entrypoints("pytest11", name="asyncio")


def pytest_addoption(parser: pytest.Parser) -> None:
    addoption(parser)


def pytest_configure(config: pytest.Config) -> None:
    markers.register(config)
    workerinput = getattr(config, "workerinput", None)
    worker_seed = workerinput.get("execserver_seed") if workerinput else None
    settings = settings_from_config(config, worker_seed)
    config.stash[SETTINGS_KEY] = settings
    config.stash[SUMMARY_KEY] = Summary()
    otel.install()
    config.pluginmanager.register(_Reporter(config), "execserver-reporter")
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(_XdistHooks(settings), "execserver-xdist")
    if settings.unconfined and workerinput is None:
        config.issue_config_time_warning(ExecServerUnconfinedWarning(UNCONFINED_WARNING), stacklevel=2)


class _XdistHooks:
    """Hand the controller's seed to every worker, so one run has one seed."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        node.workerinput["execserver_seed"] = self.settings.seed


def pytest_unconfigure(config: pytest.Config) -> None:
    otel.flush()


def _confinement_name(settings: Settings) -> str:
    try:
        return choose_confinement(settings.unconfined).value
    except ConfinementError as exc:
        return f"unavailable ({exc})"


def _backend_name(settings: Settings) -> str:
    """``auto (embedded)``: the choice and, when it is ``auto``, what it resolves to."""
    if settings.toxiproxy != "auto":
        return settings.toxiproxy
    try:
        return f"auto ({select_backend('auto').kind})"
    except (ToxiproxyError, ValueError):
        return "auto"


def pytest_report_header(config: pytest.Config) -> list[str]:
    settings = config.stash[SETTINGS_KEY]
    lines = [
        f"execserver: seed={settings.seed}{'' if settings.seed_given else ' (random)'} "
        f"server={settings.server} toxiproxy={_backend_name(settings)} mode={settings.mode} "
        f"budget-scale={settings.budget_scale:g} confinement={_confinement_name(settings)}"
    ]
    if otel.otlp_status():
        lines.append(f"execserver: exporting spans with {otel.otlp_status()}")
    if settings.unconfined:
        lines.append("execserver: WARNING: " + UNCONFINED_WARNING)
    return lines


# --------------------------------------------------------------------------------------- collection


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "exec_mode" not in metafunc.fixturenames:
        return
    for mark in metafunc.definition.iter_markers("parametrize"):
        names = mark.args[0] if mark.args else mark.kwargs.get("argnames", "")
        names = [n.strip() for n in names.split(",")] if isinstance(names, str) else list(names)
        if "exec_mode" in names:
            return  # parametrized by the test itself (validated at collection)
    try:
        modes = markers.marker_modes(metafunc.definition, metafunc.definition.get_closest_marker("exec_mode"))
    except pytest.UsageError:
        return  # reported by pytest_collection_modifyitems
    modes = modes or metafunc.config.stash[SETTINGS_KEY].modes
    if len(modes) > 1:
        metafunc.parametrize("exec_mode", list(modes), ids=list(modes))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    markers.validate_items(items)
    settings = config.stash[SETTINGS_KEY]
    for item in items:
        chaos = markers.parse_chaos(item)
        seed = chaos.seed if chaos is not None and chaos.seed is not None else derive_seed(settings.seed,
                                                                                           item.nodeid)
        state = TestState(item.nodeid, seed, markers.parse_faults(item), chaos,
                          budgets=markers.parse_budgets(item))
        if chaos is not None:
            state.schedule = draw_schedule(seed, chaos.kinds, duration_ms=chaos.duration_ms, count=chaos.count)
        callspec = getattr(item, "callspec", None)
        if callspec is not None and "exec_mode" in callspec.params:
            state.mode = str(callspec.params["exec_mode"])
        else:
            modes = markers.marker_modes(item, item.get_closest_marker("exec_mode"))
            state.mode = modes[0] if modes else settings.modes[0]  # the exec_mode fixture's fallback
        item.stash[TEST_KEY] = state


# --------------------------------------------------------------------------------------- running


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, None, None]:
    otel.drain()  # spans of earlier tests
    return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    state = item.stash.get(TEST_KEY, None)
    try:
        result = yield
    except BaseException:
        if state is not None:
            _evaluate(item, state)
        raise
    if state is not None:
        failure = _evaluate(item, state)
        if failure:
            raise ExecServerCheckFailed(failure)
    return result


def _evaluate(item: pytest.Item, state: TestState) -> str | None:
    """Run the checks and budgets on the test's history; store results; the failure text or None."""
    settings = item.config.stash[SETTINGS_KEY]
    history = state.history
    problems: list[str] = []
    if state.fault_errors:
        problems.append(fault_errors_text(state.fault_errors))
    if history is None:
        if state.budgets:
            state.record["budgets"] = [{"phase": b.phase, "ok": False, "message": "no history"} for b in
                                       state.budgets]
            problems.append("latency_budget needs the test's history: use exec_client / exec_client_factory "
                            "or request exec_history and pass it to the client")
        return "\n".join(problems) if problems else None
    events = history.events
    results = check_all(events, now_ns=time.monotonic_ns())
    state.record["invariants"] = {name: [v.to_json() for v in vs] for name, vs in results.items()}
    if any(results.values()):
        problems.append("invariant violations:\n" + format_violations(results))
    budget_results = check_budgets(events, state.budgets, settings.budget_scale)
    state.record["budgets"] = [
        {"phase": r.budget.phase, "ok": r.ok, "message": r.message(),
         "stats": r.stats.to_json() if r.stats else None, "limits": r.budget.limits(), "scale": r.scale}
        for r in budget_results
    ]
    problems.extend(r.message() for r in budget_results if not r.ok)
    return "\n".join(problems) if problems else None


def fault_errors_text(errors: list[str]) -> str:
    """The failure text for faults that could not be applied: the test did not run under them."""
    return ("fault injection failed, so the test did not run under the fault(s) it asked for:\n"
            + "\n".join(f"  {e}" for e in errors))


def _durations(events: list[HistoryEvent]) -> dict[str, list[float]]:
    out = {phase: phase_durations(events, phase)[:_MAX_DURATIONS] for phase in PHASES}
    out["reconnect"] = durations_ms(events, "reconnect")
    recovery: list[float] = []
    cut_at: int | None = None
    for e in events:  # the cut (fault applied, or reconnect started) -> next reconnect ok
        if e.op == "fault" and e.data.get("action") == "apply" and fault_kind(e) in ("disconnect", "down"):
            cut_at = e.time_ns if cut_at is None else cut_at
        elif e.op == "reconnect" and e.kind == "invoke" and cut_at is None:
            cut_at = e.time_ns  # a cut without a timed fault (after_bytes, a server restart...)
        elif e.op == "reconnect" and e.kind == "ok" and cut_at is not None:
            recovery.append((e.time_ns - cut_at) / 1e6)
            cut_at = None
    out["recovery"] = recovery
    return {k: v for k, v in out.items() if v}


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    report: pytest.TestReport = yield
    state = item.stash.get(TEST_KEY, None)
    if state is None or call.when != "call":
        return report
    settings = item.config.stash[SETTINGS_KEY]
    spans = otel.drain()
    record = state.record
    if state.history is not None:
        state.applied_kinds.update(fault_kind(e) for e in state.history.events
                                   if e.op == "fault" and e.data.get("action") == "apply")
    record.update({"nodeid": item.nodeid, "seed": state.seed, "faults": state.fault_kinds(),
                   "mode": state.mode or settings.modes[0], "fault_errors": list(state.fault_errors)})
    if state.schedule:
        record["schedule"] = [s.describe() for s in state.schedule]
    if state.history is not None:
        events = state.history.events
        record["durations"] = _durations(events)
        record["coverage"] = otel.coverage(events, spans)
    uses_harness = state.history is not None or bool(state.faults) or state.chaos is not None
    if report.failed and uses_harness:
        seed_text = (f"test seed {state.seed}; session seed {settings.seed} "
                     f"(rerun with --execserver-seed {settings.seed})")
        if state.schedule:
            seed_text += "\nschedule:\n" + format_schedule(state.schedule)
        report.sections.append(("execserver seed", seed_text))
        paths = artifacts.save(
            settings.artifacts, item.nodeid, history=state.history, spans=otel.spans_to_json(spans),
            server_log=state.server_log, server_log_offset=state.server_log_offset,
            extra={k: v for k, v in record.items() if k != "durations"},
            worker=None if worker_id(item.config) == "main" else worker_id(item.config),
        )
        record["artifacts"] = paths
        report.sections.append(("execserver artifacts", "\n".join(f"{k}: {v}" for k, v in paths.items())))
    if call.excinfo is not None and call.excinfo.errisinstance(ExecServerCheckFailed):
        report.longrepr = f"{item.nodeid}: execserver checks failed\n{call.excinfo.value}"
    else:
        if report.failed and record.get("invariants") and any(record["invariants"].values()):
            text = "\n".join(f"[{n}] {v['message']}" for n, vs in record["invariants"].items() for v in vs)
            report.sections.append(("execserver invariants", text))
        if report.failed and state.fault_errors:
            report.sections.append(("execserver fault errors", fault_errors_text(state.fault_errors)))
    report.execserver = record  # type: ignore[attr-defined]
    return report


class _Reporter:
    """Collects the per-test records (also the workers' under xdist) and prints/writes the summary."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        record = getattr(report, "execserver", None)
        if report.when == "call" and isinstance(record, dict):
            self.config.stash[SUMMARY_KEY].add(record, report_outcome(report))

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if getattr(self.config, "workerinput", None) is not None:
            return
        settings = self.config.stash[SETTINGS_KEY]
        if settings.report is not None:
            summary = self.config.stash[SUMMARY_KEY]
            header = {**settings.header(), "modes": summary.modes_run(),
                      "toxiproxy_backend": _backend_name(settings), "confinement": _confinement_name(settings)}
            summary.write_json(settings.report, header)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        config = self.config
        if getattr(config, "workerinput", None) is not None:
            return
        settings = config.stash[SETTINGS_KEY]
        lines = config.stash[SUMMARY_KEY].lines()
        if not lines and not settings.unconfined and settings.report is None:
            return
        terminalreporter.section("execserver")
        modes = ", ".join(config.stash[SUMMARY_KEY].modes_run()) or settings.mode
        terminalreporter.write_line(
            f"seed {settings.seed} (rerun with --execserver-seed {settings.seed}), server {settings.server}, "
            f"toxiproxy {_backend_name(settings)}, modes run: {modes}"
        )
        for line in lines:
            terminalreporter.write_line(line)
        if settings.report is not None:
            terminalreporter.write_line(f"report written to {settings.report}")
        if settings.unconfined:
            terminalreporter.write_line("WARNING: " + UNCONFINED_WARNING, red=True, bold=True)


pytest_plugins = ["pytest_execserver.subject_fixtures"]  # exec_subject and the client checks (light)
