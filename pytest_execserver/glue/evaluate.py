"""After a test that used the harness: its checks and budgets, and what its report carries.

Imported by the plugin's hooks only for tests that have harness state, so a session that never uses the
harness never loads the invariant and budget machinery.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from pytest_execserver.checks.budgets import PHASES, check_budgets, phase_durations
from pytest_execserver.checks.history import HistoryEvent, durations_ms
from pytest_execserver.checks.invariants import check_all, fault_kind, format_violations, sandbox_denial_reports
from pytest_execserver.faults.kinds import CUTTING_KINDS
from pytest_execserver.faults.schedule import format_schedule
from pytest_execserver.glue.runstate import SETTINGS_KEY, ExecServerCheckFailed, TestState, worker_id
from pytest_execserver.report import artifacts
from pytest_execserver.telemetry import otel

_MAX_DURATIONS = 5000  # per phase per test, shipped to the controller under xdist


def evaluate(item: pytest.Item, state: TestState) -> str | None:
    """Run the checks and budgets on the test's history; store results; the failure text or None."""
    settings = item.config.stash[SETTINGS_KEY]
    history = state.history
    problems: list[str] = []
    if state.fault_errors:
        problems.append(fault_errors_text(state.fault_errors))
    if uses_load_glue(item):  # issue 23: resource_budget and load (their own module)
        from pytest_execserver.glue import load_run

        problems.extend(load_run.evaluate(item, state))
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
    state.record["sandbox_denied_on_wire"] = sandbox_denial_reports(events)
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


def uses_load_glue(item: pytest.Item) -> bool:
    """Whether the test has a ``resource_budget`` or ``load`` marker or uses ``exec_load``."""
    return (item.get_closest_marker("resource_budget") is not None or item.get_closest_marker("load") is not None
            or "exec_load" in getattr(item, "fixturenames", ()))


def fault_errors_text(errors: list[str]) -> str:
    """The failure text for faults that could not be applied: the test did not run under them."""
    return ("fault injection failed, so the test did not run under the fault(s) it asked for:\n"
            + "\n".join(f"  {e}" for e in errors))


def durations(events: list[HistoryEvent]) -> dict[str, list[float]]:
    out = {phase: phase_durations(events, phase)[:_MAX_DURATIONS] for phase in PHASES}
    out["reconnect"] = durations_ms(events, "reconnect")
    recovery: list[float] = []
    cut_at: int | None = None
    for e in events:  # the cut (fault applied, or reconnect started) -> next reconnect ok
        if e.op == "fault" and e.data.get("action") == "apply" and fault_kind(e) in CUTTING_KINDS:
            cut_at = e.time_ns if cut_at is None else cut_at
        elif e.op == "reconnect" and e.kind == "invoke" and cut_at is None:
            cut_at = e.time_ns  # a cut without a timed fault (after_bytes, a server restart...)
        elif e.op == "reconnect" and e.kind == "ok" and cut_at is not None:
            recovery.append((e.time_ns - cut_at) / 1e6)
            cut_at = None
    out["recovery"] = recovery
    return {k: v for k, v in out.items() if v}


def complete_report(item: pytest.Item, call: pytest.CallInfo[None], report: pytest.TestReport,
                    state: TestState) -> None:
    """Add the record, the seed, the schedule and the artifacts of a harness test to its call report."""
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
        record["durations"] = durations(events)
        record["coverage"] = otel.coverage(events, spans)
    uses_harness = state.history is not None or bool(state.faults) or state.schedule_spec is not None
    if report.failed and uses_harness:
        seed_text = (f"test seed {state.seed}; session seed {settings.seed} "
                     f"(rerun with --execserver-seed {settings.seed})")
        if state.schedule:
            seed_text += ("\nschedule (paste into @pytest.mark.fault_schedule(...) to replay it):\n"
                          + format_schedule(state.schedule))
        report.sections.append(("execserver seed", seed_text))
        worker = worker_id(item.config)
        paths = artifacts.save(
            settings.artifacts, item.nodeid, history=state.history, spans=otel.spans_to_json(spans),
            server_log=state.server_log, server_log_offset=state.server_log_offset,
            journal=state.journal, journal_offset=state.journal_offset,
            extra={k: v for k, v in record.items() if k != "durations"},
            worker=None if worker == "main" else worker,
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
    report_any: Any = report
    report_any.execserver = record
