"""The glue of ``resource_budget`` and ``load`` (issue 23): the sampler around a test, the ``exec_load``
fixture, and what the plugin checks after the test body.

- ``resource_budget``: the plugin adds the ``_execserver_resource_budget`` fixture to every test with the
  marker. It is set up after the test's other fixtures (so the baseline already holds their connections)
  and samples ``exec_server``'s process tree from /proc in a thread. After the body, :func:`evaluate`
  lets the server settle, checks the budget and fails the test with the account (before the test's
  clients are closed: close them in the test if their fds should not count in ``fd_growth``).
- ``load``: ``await exec_load(**overrides)`` runs the marker's load through ``exec_proxy`` (the test's
  faults apply) with clients from ``exec_client_factory``, so every operation of the run is in the test's
  history: the invariants and every ``latency_budget`` marker apply to the whole run. The marker's
  ``p95_ms`` and ``thresholds`` are checked on the run's HdrHistogram, whose latency runs from each
  operation's *intended* start (open loop: no coordinated omission), unlike the history's phases.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from pytest_execserver.glue import load_state
from pytest_execserver.glue.load_markers import (
    LoadSpec,
    ResourceBudget,
    load_from_args,
    load_group,
    parse_load,
    parse_resource_budget,
    thresholds_for,
)
from pytest_execserver.glue.runstate import SETTINGS_KEY, TestState, worker_id
from pytest_execserver.load.resources import (
    ResourceSample,
    ResourceSampler,
    Violation,
    check_resource_budget,
    kill_processes,
)
from pytest_execserver.load.result import LoadResult, check_thresholds
from pytest_execserver.load.runner import run_load_async
from pytest_execserver.servers.launch import ServerProcess

MARK_KEY = "EXECSERVER_LOAD_MARK"
LOAD_REQUEST_TIMEOUT_S = 60.0  # a loaded server answers slowly (codex p99 ~9 s at 256 clients)
LoadRunner = Callable[..., Awaitable[LoadResult]]


@dataclass
class ActiveBudget:
    """A sampler running around one test."""

    sampler: ResourceSampler
    budget: ResourceBudget
    marker: str
    checked: bool = False


@dataclass
class LoadRuns:
    """The load runs of one test."""

    runs: list[dict[str, Any]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


BUDGET_KEY: pytest.StashKey[ActiveBudget] = pytest.StashKey()
RUNS_KEY: pytest.StashKey[LoadRuns] = pytest.StashKey()


def new_marker() -> str:
    """``EXECSERVER_LOAD_MARK=<uuid>``: passed in the env of the test's processes, so the sampler finds a
    ``setsid``'d orphan outside any sandbox too."""
    return f"{MARK_KEY}={uuid.uuid4().hex}"


# ------------------------------------------------------------------------------------- resource_budget


def resource_budget(exec_server: ServerProcess, request: pytest.FixtureRequest) -> Iterator[str]:
    """Sample ``exec_server`` during the test (the marker's budget is checked by :func:`evaluate`)."""
    budget = parse_resource_budget(request.node)
    marker = new_marker()
    if budget is None:
        yield marker
        return
    sampler = ResourceSampler(exec_server.popen.pid, marker=marker, interval_s=0.1)
    sampler.__enter__()
    active = ActiveBudget(sampler, budget, marker)
    request.node.stash[BUDGET_KEY] = active
    try:
        yield marker
    finally:
        sampler.stop()


def _peaks(samples: list[ResourceSample]) -> dict[str, Any]:
    if not samples:
        return {}
    return {
        "samples": len(samples),
        "peak_rss_mb": round(max(s.rss_mb for s in samples), 1),
        "fds_start_peak_end": [samples[0].fds, max(s.fds for s in samples), samples[-1].fds],
        "peak_threads": max(s.threads for s in samples),
        "descendants_at_end": len(samples[-1].descendants),
    }


def _check_budget(active: ActiveBudget, record: dict[str, Any]) -> list[str]:
    active.checked = True
    sampler = active.sampler
    sampler.settle(grace_s=active.budget.grace_s, idle_s=active.budget.idle_s)
    sampler.stop()
    samples = list(sampler.samples)
    violations: list[Violation] = check_resource_budget(samples, **active.budget.limits())  # type: ignore[arg-type]
    record["resource_budget"] = {
        "ok": not violations,
        "limits": active.budget.limits(),
        "violations": [{"budget": v.budget, "limit": v.limit, "measured": v.measured, "account": v.account}
                       for v in violations],
        **_peaks(samples),
    }
    if any(v.budget == "descendants" for v in violations) and samples:
        kill_processes(samples[-1].descendants)  # the survivors: later tests start without them
    if not violations:
        return []
    return ["resource budget exceeded (server process tree sampled from /proc):\n"
            + "\n".join(f"  {v}" for v in violations)]


# ------------------------------------------------------------------------------------------------ load


def _spec(request: pytest.FixtureRequest, overrides: dict[str, Any]) -> LoadSpec:
    spec = parse_load(request.node)
    if spec is None:
        return load_from_args((), overrides, f"{request.node.nodeid}: exec_load()")
    return spec.replace(**overrides) if overrides else spec


async def exec_load(exec_client_factory: Callable[..., Awaitable[Any]], exec_proxy: Any,
                    request: pytest.FixtureRequest) -> AsyncIterator[LoadRunner]:
    """``result = await exec_load(**overrides)``: the ``load`` marker's run (overrides: its arguments)."""
    runs = request.node.stash.setdefault(RUNS_KEY, LoadRuns())
    config = request.config
    settings = config.stash[SETTINGS_KEY]

    async def run(**overrides: Any) -> LoadResult:
        spec = _spec(request, overrides)
        active = request.node.stash.get(BUDGET_KEY, None)
        env = dict([active.marker.split("=", 1)]) if active is not None else None

        async def connect(url: str, index: int) -> Any:
            return await exec_client_factory(client_id=f"load-{index}", recovery_deadline_s=30.0,
                                             request_timeout_s=LOAD_REQUEST_TIMEOUT_S)

        result = await run_load_async(
            exec_proxy.url, clients=spec.clients, processes_per_client=spec.processes_per_client,
            duration_s=spec.duration_s, rate=spec.rate, payload_bytes=spec.payload_bytes, env=env,
            client_factory=connect,
        )  # fmt: skip
        thresholds = thresholds_for(spec, settings.budget_scale)
        failures = check_thresholds(result, thresholds)
        group = load_group(request.node, spec)
        part = {"worker": worker_id(config), "nodeid": request.node.nodeid, **result.to_dict()}
        runs.runs.append({"group": group, "thresholds": thresholds, "failures": failures,
                          "summary": result.summary(), **part})
        load_state.add_part(config, group, part)
        if failures:
            runs.failures.append(f"load thresholds failed ({result.summary()}):\n"
                                 + "\n".join(f"  {f}" for f in failures)
                                 + "".join(f"\n  error: {e}" for e in result.error_samples[:5]))
        return result

    yield run


# ------------------------------------------------------------------------------------------- evaluate


def evaluate(item: pytest.Item, state: TestState) -> list[str]:
    """After the test body: the resource budget and the load thresholds; the failure texts (empty: ok)."""
    problems: list[str] = []
    active = item.stash.get(BUDGET_KEY, None)
    if active is not None and not active.checked:
        problems.extend(_check_budget(active, state.record))
    runs = item.stash.get(RUNS_KEY, None)
    if runs is not None and runs.runs:
        state.record["load"] = runs.runs
        problems.extend(runs.failures)
    elif item.get_closest_marker("load") is not None:
        problems.append("@pytest.mark.load: the load never ran (call `await exec_load()` in the test)")
    return problems

