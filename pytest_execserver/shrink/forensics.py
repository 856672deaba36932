"""After a harness test failed: draw its timeline, and (``--execserver-shrink``) shrink its fault schedule.

Called from the plugin's ``pytest_runtest_makereport`` after the report is complete; writes artifacts next
to the history (:mod:`.artifacts`), adds report sections, and records paths and results in the test's
record (``record["artifacts"]["timeline"]``, ``record["shrink"]``) for the JSON report and its HTML page.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

from pytest_execserver.faults.schedule import as_timed
from pytest_execserver.glue.runstate import SETTINGS_KEY, TestState, worker_id
from pytest_execserver.report import artifacts
from pytest_execserver.shrink.core import ShrinkResult, shrink
from pytest_execserver.shrink.replay import PLUGIN as REPLAY_PLUGIN
from pytest_execserver.shrink.replay import Replayer, failure_signature


def after_failure(item: pytest.Item, call: pytest.CallInfo[None], report: pytest.TestReport,
                  state: TestState) -> None:
    """The timeline artifact of a failed test, then its shrunk schedule if asked for."""
    settings = item.config.stash[SETTINGS_KEY]
    worker = worker_id(item.config)
    worker_name = None if worker == "main" else worker
    paths: dict[str, str] = state.record.setdefault("artifacts", {})
    if state.history is not None:
        from pytest_execserver.report.timeline import render_timeline

        try:
            svg = render_timeline(state.history.events, state.record.get("invariants") or {},
                                  title=item.nodeid, failure=_failure_line(report))
            paths["timeline"] = artifacts.save_file(settings.artifacts, item.nodeid, "timeline.svg", svg,
                                                    worker_name)
        except Exception as exc:  # a picture that cannot be drawn must not hide the test's own failure
            report.sections.append(("execserver timeline", f"not drawn: {exc!r}"))
        else:
            report.sections.append(("execserver timeline", paths["timeline"]))
    if settings.shrink and state.schedule and not item.config.pluginmanager.has_plugin(REPLAY_PLUGIN):
        try:
            text, record = shrink_test(item, call, state)
        except Exception as exc:
            report.sections.append(("execserver shrink", f"shrinking failed: {exc!r}"))
            return
        paths["shrunk_schedule"] = artifacts.save_file(settings.artifacts, item.nodeid, "shrunk-schedule.txt",
                                                       text + "\n", worker_name)
        state.record["shrink"] = record
        report.sections.append(("execserver shrink", f"{text}\n(also in {paths['shrunk_schedule']})"))


def _failure_line(report: pytest.TestReport) -> str:
    crash = getattr(report.longrepr, "reprcrash", None)
    text = str(crash.message) if crash is not None else str(report.longrepr)
    return text.strip().splitlines()[0][:200] if text.strip() else "failed"


def paste_line(schedule: tuple[Any, ...]) -> str:
    """``@pytest.mark.fault_schedule(Fault(...), ...)``: replays exactly these timed faults."""
    return f"@pytest.mark.fault_schedule({', '.join(repr(f) for f in schedule)})"


def _say(item: pytest.Item, line: str) -> None:
    terminal = item.config.pluginmanager.get_plugin("terminalreporter")
    if terminal is not None:
        terminal.write_line(f"execserver shrink: {line}")


def shrink_test(item: pytest.Item, call: pytest.CallInfo[None], state: TestState) -> tuple[str, dict[str, Any]]:
    """Shrink the failed test's schedule within the budget: (the report text, a JSON-able record)."""
    settings = item.config.stash[SETTINGS_KEY]
    assert state.schedule_spec is not None
    original = tuple(as_timed(s) for s in state.schedule)
    signature = failure_signature(call, state)
    budget = settings.shrink_budget_s
    deadline = time.monotonic() + budget
    _say(item, f"{item.nodeid}: {len(original)} fault(s), failure {signature!r}; budget {budget:g} s "
               f"(--execserver-shrink-budget); each run: a fresh server and proxy")
    workdir = Path(tempfile.mkdtemp(prefix="execserver-shrink-"))
    replayer = Replayer(item.config, settings, item.nodeid, workdir)
    started = time.monotonic()

    def still_fails(candidate: tuple[Any, ...]) -> bool:
        outcome = replayer.run(candidate, deadline - time.monotonic())
        same = outcome.outcome == "failed" and outcome.signature == signature
        kinds = ", ".join(f"{f.kind}@{f.at_ms:g}" for f in candidate) or "no fault"
        _say(item, f"run {replayer.runs}: [{kinds}] -> {outcome.outcome} "
                   f"({outcome.signature}, {outcome.seconds:.1f} s){' [still fails]' if same else ''}")
        return same

    reproduced = still_fails(original)
    if reproduced:
        result = shrink(original, still_fails, window_ms=state.schedule_spec.duration_ms,
                        out_of_budget=lambda: time.monotonic() >= deadline)
    else:
        result = ShrinkResult(original, original, out_of_budget=time.monotonic() >= deadline)
    elapsed = time.monotonic() - started
    record = {"signature": signature, "reproduced": reproduced, "runs": replayer.runs,
              "seconds": round(elapsed, 1), "budget_s": budget, "out_of_budget": result.out_of_budget,
              "confirmed": result.confirmed,
              "original": [f.describe() for f in original], "shrunk": [f.describe() for f in result.schedule],
              "marker": paste_line(result.schedule) if result.schedule else None, "steps": result.steps,
              "workdir": str(workdir)}
    text = _summary(record, len(original))
    _say(item, text.splitlines()[0])
    return text, record


def _summary(record: dict[str, Any], n: int) -> str:
    head = (f"{record['runs']} run(s) in {record['seconds']:g} s of a {record['budget_s']:g} s budget"
            f"{' (budget exhausted: smallest so far)' if record['out_of_budget'] else ''}")
    if not record["reproduced"]:
        return (f"the failure ({record['signature']}) did not reproduce in a fresh run with the same schedule "
                f"(a flaky test?); not shrunk. {head}. Runs: {record['workdir']}")
    if not record["shrunk"]:
        return (f"fails ({record['signature']}) without any fault of its schedule: the faults are not the "
                f"cause. {head}")
    confirmed = ("failed again when run once more" if record["confirmed"]
                 else "NOT confirmed by a second run (out of budget)")
    return (f"{n} fault(s) shrunk to {len(record['shrunk'])}, still failing ({record['signature']}); {confirmed}; "
            f"{head}.\n"
            f"Paste into the test to replay (from pytest_execserver.faults.kinds import Fault):\n{record['marker']}")
