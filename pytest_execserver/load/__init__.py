"""Load, reconnect storms and resource budgets for exec-servers (issue 23).

``run_load(url, clients=, processes_per_client=, duration_s=, rate=) -> LoadResult`` (or
``await run_load_async(...)``); ``check_thresholds(result, ["p95_ms<=200", "errors==0"])``;
``await reconnect_storm(url, clients=N, flaps=K)``; ``ResourceSampler(pid)`` and
``check_resource_budget(samples, ...)`` (:mod:`pytest_execserver.load.resources`).
Depends only on the client, the standard library and ``hdrhistogram``.
"""

from pytest_execserver.load.histogram import LatencyHistogram
from pytest_execserver.load.limits import ensure_fd_capacity
from pytest_execserver.load.resources import (
    ProcInfo,
    ResourceSample,
    ResourceSampler,
    Violation,
    check_resource_budget,
    kill_processes,
    marked_processes,
)
from pytest_execserver.load.result import LoadResult, check_thresholds, parse_threshold
from pytest_execserver.load.runner import run_load, run_load_async
from pytest_execserver.load.schedule import Arrival, LoadConfigError, arrival_schedule, operation_count
from pytest_execserver.load.storm import StormResult, abort_all, reconnect_storm

__all__ = [
    "Arrival",
    "LatencyHistogram",
    "LoadConfigError",
    "LoadResult",
    "ProcInfo",
    "ResourceSample",
    "ResourceSampler",
    "StormResult",
    "Violation",
    "abort_all",
    "arrival_schedule",
    "check_resource_budget",
    "check_thresholds",
    "ensure_fd_capacity",
    "kill_processes",
    "marked_processes",
    "operation_count",
    "parse_threshold",
    "reconnect_storm",
    "run_load",
    "run_load_async",
]
