"""The ``resource_budget`` and ``load`` markers: strict parsing into typed values (issue 23).

Like :mod:`.markers`, a malformed marker is a :class:`pytest.UsageError` at collection time that names the
test, the marker and what is wrong. Imports nothing heavy: the load engine is imported only to validate
thresholds (``parse_threshold`` is pure).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

RESOURCE_LIMITS = ("rss_mb", "fds", "threads", "descendants", "idle_cpu_pct", "fd_growth")
_INT_LIMITS = ("fds", "threads", "descendants", "fd_growth")
_RESOURCE_KWARGS = (*RESOURCE_LIMITS, "grace_s", "idle_s")
_LOAD_KWARGS = ("clients", "processes_per_client", "duration_s", "rate", "p95_ms", "thresholds", "payload_bytes",
                "group")
MAX_PAYLOAD_BYTES = 1 << 20


@dataclass(frozen=True)
class ResourceBudget:
    """A parsed ``resource_budget`` marker (None: not bounded)."""

    rss_mb: float | None = None
    fds: int | None = None
    threads: int | None = None
    descendants: int | None = None
    idle_cpu_pct: float | None = None
    fd_growth: int | None = None
    grace_s: float = 2.0  # after the test: how long the server may take to end its processes
    idle_s: float = 0.5  # then: how long the idle server is sampled

    def limits(self) -> dict[str, float]:
        """The bounded budgets, as ``check_resource_budget`` keyword arguments."""
        return {name: getattr(self, name) for name in RESOURCE_LIMITS if getattr(self, name) is not None}


@dataclass(frozen=True)
class LoadSpec:
    """A parsed ``load`` marker (the defaults of ``exec_load()``; its keyword arguments override them)."""

    clients: int
    processes_per_client: int | None = None
    duration_s: float | None = None
    rate: float | None = None
    p95_ms: float | None = None
    thresholds: tuple[str, ...] = field(default_factory=tuple)
    payload_bytes: int = 64
    group: str | None = None

    def replace(self, **overrides: Any) -> LoadSpec:
        params = {name: getattr(self, name) for name in _LOAD_KWARGS}
        params.update(overrides)
        return load_from_args((), params, "exec_load()")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)) and math.isfinite(value)


def _unknown(kwargs: Mapping[str, Any], accepted: Sequence[str], where: str) -> None:
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        raise pytest.UsageError(f"{where}: unknown argument(s) {', '.join(unknown)}; accepted: {', '.join(accepted)}")


def resource_budget_from_args(args: Sequence[Any], kwargs: Mapping[str, Any], where: str) -> ResourceBudget:
    """``resource_budget(rss_mb=, fds=, threads=, descendants=, idle_cpu_pct=, fd_growth=, grace_s=, idle_s=)``."""
    __tracebackhide__ = True
    if args:
        raise pytest.UsageError(f"{where}: takes keyword arguments only ({', '.join(_RESOURCE_KWARGS)})")
    _unknown(kwargs, _RESOURCE_KWARGS, where)
    for name, value in kwargs.items():
        if value is None and name in RESOURCE_LIMITS:
            continue
        if name in _INT_LIMITS:
            if not _is_int(value) or value < 0:
                raise pytest.UsageError(f"{where}: {name} must be a non-negative integer, got {value!r}")
        elif not _is_number(value) or value < 0 or (name in ("rss_mb",) and value == 0):
            raise pytest.UsageError(f"{where}: {name} must be a {'positive' if name == 'rss_mb' else 'non-negative'}"
                                    f" number, got {value!r}")
    if not any(kwargs.get(name) is not None for name in RESOURCE_LIMITS):
        raise pytest.UsageError(f"{where}: give at least one budget: {', '.join(RESOURCE_LIMITS)}")
    if kwargs.get("idle_cpu_pct") is not None and kwargs.get("idle_s", 0.5) < 0.2:
        raise pytest.UsageError(f"{where}: idle_cpu_pct needs idle_s >= 0.2 (two idle samples at least)")
    return ResourceBudget(**kwargs)


_GROUP = re.compile(r"^[A-Za-z0-9_.:/\[\]-]{1,200}$")


def load_from_args(args: Sequence[Any], kwargs: Mapping[str, Any], where: str) -> LoadSpec:
    """``load(clients=N, processes_per_client=None, duration_s=None, rate=None, p95_ms=None, thresholds=())``."""
    __tracebackhide__ = True
    from pytest_execserver.load.result import parse_threshold

    params = dict(kwargs)
    if args:
        if len(args) > 1 or "clients" in params:
            raise pytest.UsageError(f"{where}: the only positional argument is clients")
        params["clients"] = args[0]
    _unknown(params, _LOAD_KWARGS, where)
    clients: Any = params.get("clients")
    if not _is_int(clients) or clients <= 0:
        raise pytest.UsageError(f"{where}: clients must be a positive integer, got {clients!r}")
    per_client = params.get("processes_per_client")
    if per_client is not None and (not _is_int(per_client) or per_client <= 0):
        raise pytest.UsageError(f"{where}: processes_per_client must be a positive integer, got {per_client!r}")
    for name in ("duration_s", "rate", "p95_ms"):
        value = params.get(name)
        if value is not None and (not _is_number(value) or value <= 0):
            raise pytest.UsageError(f"{where}: {name} must be a positive number, got {value!r}")
    if per_client is None and params.get("duration_s") is None:
        raise pytest.UsageError(f"{where}: give processes_per_client=... or duration_s=... (how long the load runs)")
    payload_bytes = params.get("payload_bytes", 64)
    if not _is_int(payload_bytes) or not 1 <= payload_bytes <= MAX_PAYLOAD_BYTES:
        raise pytest.UsageError(f"{where}: payload_bytes must be an integer in 1..{MAX_PAYLOAD_BYTES}, "
                                f"got {payload_bytes!r}")
    thresholds = params.get("thresholds", ())
    if isinstance(thresholds, str):
        thresholds = (thresholds,)
    if not isinstance(thresholds, (list, tuple)) or not all(isinstance(t, str) for t in thresholds):
        raise pytest.UsageError(f"{where}: thresholds must be a list of strings like 'p95_ms<=200', "
                                f"got {thresholds!r}")
    for text in thresholds:
        try:
            parse_threshold(text)
        except ValueError as exc:
            raise pytest.UsageError(f"{where}: {exc}") from None
    group = params.get("group")
    if group is not None and (not isinstance(group, str) or not _GROUP.match(group)):
        raise pytest.UsageError(f"{where}: group must be a short name (letters, digits, _.:/[]-), got {group!r}")
    return LoadSpec(clients, per_client, params.get("duration_s"), params.get("rate"), params.get("p95_ms"),
                    tuple(thresholds), payload_bytes, group)


def _where(item: Any, mark: pytest.Mark) -> str:
    return f"{item.nodeid}: @pytest.mark.{mark.name}"


def parse_resource_budget(item: Any) -> ResourceBudget | None:
    mark = item.get_closest_marker("resource_budget")
    return None if mark is None else resource_budget_from_args(mark.args, mark.kwargs, _where(item, mark))


def parse_load(item: Any) -> LoadSpec | None:
    mark = item.get_closest_marker("load")
    return None if mark is None else load_from_args(mark.args, mark.kwargs, _where(item, mark))


def validate_items(items: Iterable[Any]) -> None:
    """Parse the two markers of every item; the first problem becomes a UsageError."""
    for item in items:
        parse_resource_budget(item)
        spec = parse_load(item)
        if spec is not None and "exec_load" not in getattr(item, "fixturenames", ()):
            raise pytest.UsageError(f"{item.nodeid}: @pytest.mark.load needs the exec_load fixture "
                                    "(`result = await exec_load()` runs the load)")


def thresholds_for(spec: LoadSpec, budget_scale: float = 1.0) -> list[str]:
    """The thresholds a run is checked against: the marker's, ``p95_ms`` (times the budget scale), and
    ``errors==0`` unless a threshold already names the errors."""
    out = list(spec.thresholds)
    if spec.p95_ms is not None:
        out.append(f"p95_ms<={spec.p95_ms * budget_scale:g}")
    if not any(t.strip().startswith(("errors", "error_rate")) for t in out):
        out.insert(0, "errors==0")
    return out


def load_group(item: Any, spec: LoadSpec) -> str:
    """The name runs are merged under (the marker's ``group``, else the test id without its parameters)."""
    return spec.group or str(item.nodeid).split("[", 1)[0]
