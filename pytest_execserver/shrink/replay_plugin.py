"""Loaded (``-p``) into a replay subprocess only: the candidate schedule in, the outcome out.

``--execserver-replay SPEC.json`` names ``{"nodeid", "faults": [Fault.describe()...], "result": path}``.
After the harness built each test's state, a test with a ``fault_schedule`` marker gets the candidate's
timed faults as its schedule (what a pasted marker of those faults would give); its outcome and failure
signature (:func:`~pytest_execserver.shrink.replay.failure_signature`) go to ``result``.
"""

from __future__ import annotations

import json
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

from pytest_execserver.faults.kinds import coerce_fault
from pytest_execserver.faults.schedule import draw_schedule
from pytest_execserver.glue.runstate import TEST_KEY
from pytest_execserver.shrink.replay import REPLAY_OPTION, failure_signature

_SPEC_KEY = pytest.StashKey[dict[str, Any]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(REPLAY_OPTION, dest="execserver_replay", default=None,
                     help="(internal) replay one test with the schedule in this JSON file (--execserver-shrink)")


def pytest_configure(config: pytest.Config) -> None:
    path = config.getoption("execserver_replay")
    if path:
        config.stash[_SPEC_KEY] = json.loads(Path(path).read_text())


@pytest.hookimpl(trylast=True)  # after the harness's own hook built each item's state
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    spec = config.stash.get(_SPEC_KEY, None)
    if spec is None:
        return
    faults = [coerce_fault(d) for d in spec["faults"]]
    for item in items:
        state = item.stash.get(TEST_KEY, None)
        if state is not None and state.schedule_spec is not None:
            state.schedule = draw_schedule(state.seed, faults, duration_ms=state.schedule_spec.duration_ms)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    report: pytest.TestReport = yield
    spec = item.config.stash.get(_SPEC_KEY, None)
    if spec is None or (call.when != "call" and not report.failed):
        return report
    result = Path(spec["result"])
    if result.exists() and json.loads(result.read_text())["outcome"] != "passed":
        return report  # keep the first failure (a teardown error after a failed call changes nothing)
    outcome = report.outcome if call.when == "call" else "error"
    signature = failure_signature(call, item.stash.get(TEST_KEY, None)) if report.failed else "passed"
    result.write_text(json.dumps({"outcome": outcome, "when": call.when, "signature": signature}))
    return report
