"""The outcome of a load run (:class:`LoadResult`) and k6-style thresholds over it (:func:`check_thresholds`)."""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pytest_execserver.load.histogram import LatencyHistogram

MAX_ERRORS_KEPT = 50  # an account of the first errors; ``errors`` counts them all


@dataclass
class LoadResult:
    """Counts, latencies (from the intended start: no coordinated omission) and errors of one run."""

    clients: int
    operations: int = 0  # completed with byte-exact output
    errors: int = 0
    elapsed_s: float = 0.0
    latency: LatencyHistogram = field(default_factory=LatencyHistogram)
    connect: LatencyHistogram = field(default_factory=LatencyHistogram)
    error_samples: list[str] = field(default_factory=list)
    harness_cpu_s: float = 0.0  # CPU time this (harness) process spent during the run
    rate: float | None = None

    def add_error(self, message: str) -> None:
        self.errors += 1
        if len(self.error_samples) < MAX_ERRORS_KEPT:
            self.error_samples.append(message)

    @property
    def throughput(self) -> float:
        """Completed operations per second of wall time."""
        return self.operations / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def harness_cpu_ms_per_op(self) -> float:
        """The harness's own CPU cost of one operation (client side: framing, bookkeeping, checks)."""
        done = self.operations + self.errors
        return self.harness_cpu_s * 1000.0 / done if done else 0.0

    def metrics(self) -> dict[str, float]:
        """The names thresholds refer to (``p95_ms``, ``throughput``, ``errors``, ...)."""
        total = self.operations + self.errors
        return {
            "clients": float(self.clients),
            "operations": float(self.operations),
            "errors": float(self.errors),
            "error_rate": self.errors / total if total else 0.0,
            "throughput": self.throughput,
            "elapsed_s": self.elapsed_s,
            "p50_ms": self.latency.percentile_ms(50),
            "p95_ms": self.latency.percentile_ms(95),
            "p99_ms": self.latency.percentile_ms(99),
            "max_ms": self.latency.max_ms,
            "mean_ms": self.latency.mean_ms,
            "connect_p95_ms": self.connect.percentile_ms(95),
            "harness_cpu_ms_per_op": self.harness_cpu_ms_per_op,
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, with both histograms encoded so another process can merge them."""
        return {
            **self.metrics(),
            "rate": self.rate,
            "harness_cpu_s": self.harness_cpu_s,
            "error_samples": list(self.error_samples),
            "latency_hdr": self.latency.encode(),
            "connect_hdr": self.connect.encode(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LoadResult:
        return cls(
            clients=int(data["clients"]),
            operations=int(data["operations"]),
            errors=int(data["errors"]),
            elapsed_s=float(data["elapsed_s"]),
            latency=LatencyHistogram.decode(data["latency_hdr"]),
            connect=LatencyHistogram.decode(data["connect_hdr"]),
            error_samples=list(data.get("error_samples", [])),
            harness_cpu_s=float(data.get("harness_cpu_s", 0.0)),
            rate=data.get("rate"),
        )

    @classmethod
    def merge(cls, parts: Iterable[LoadResult]) -> LoadResult:
        """Several runs that ran side by side (xdist workers, machines) as one: counts and histograms add up,
        the elapsed time is the longest part's, so throughput is the combined rate."""
        merged = cls(clients=0)
        for part in parts:
            merged.clients += part.clients
            merged.operations += part.operations
            merged.errors += part.errors
            merged.elapsed_s = max(merged.elapsed_s, part.elapsed_s)
            merged.latency.add(part.latency)
            merged.connect.add(part.connect)
            merged.harness_cpu_s += part.harness_cpu_s
            merged.error_samples += part.error_samples[: MAX_ERRORS_KEPT - len(merged.error_samples)]
            if part.rate is not None:
                merged.rate = (merged.rate or 0.0) + part.rate
        return merged

    def summary(self) -> str:
        m = self.metrics()
        return (
            f"{self.clients} clients: {self.operations} ok, {self.errors} errors in {self.elapsed_s:.2f} s "
            f"({m['throughput']:.1f}/s); p50 {m['p50_ms']:.1f} ms, p95 {m['p95_ms']:.1f} ms, "
            f"p99 {m['p99_ms']:.1f} ms, max {m['max_ms']:.1f} ms; harness {m['harness_cpu_ms_per_op']:.2f} ms CPU/op"
        )


# ---------------------------------------------------------------------------------------------- thresholds

_OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le, "<": operator.lt, ">=": operator.ge, ">": operator.gt, "==": operator.eq,
}  # fmt: skip
_THRESHOLD = re.compile(r"^\s*([a-z0-9_]+)\s*(<=|>=|==|<|>)\s*([0-9]+(?:\.[0-9]*)?)\s*$")


def parse_threshold(text: str) -> tuple[str, str, float]:
    """``"p95_ms<=200"`` -> ``("p95_ms", "<=", 200.0)``; a :class:`ValueError` names what is wrong."""
    match = _THRESHOLD.match(text)
    if match is None:
        raise ValueError(f"threshold {text!r} is not METRIC OP NUMBER (e.g. 'p95_ms<=200')")
    metric, op, number = match.groups()
    known = LoadResult(clients=0).metrics()
    if metric not in known:
        raise ValueError(f"threshold {text!r}: unknown metric {metric!r}; known: {', '.join(sorted(known))}")
    return metric, op, float(number)


def check_thresholds(metrics: Mapping[str, float] | LoadResult, thresholds: Iterable[str]) -> list[str]:
    """The thresholds that fail, each with the measured value (an empty list: the run passes)."""
    values = metrics.metrics() if isinstance(metrics, LoadResult) else metrics
    failures = []
    for text in thresholds:
        metric, op, limit = parse_threshold(text)
        value = values[metric]
        if not _OPERATORS[op](value, limit):
            failures.append(f"{metric}{op}{limit:g} failed: measured {value:.3f}")
    return failures
