"""Session summary: fault x invariant matrix, latency per phase, span coverage; terminal and JSON.

Each test's results travel on its call report as the ``execserver`` attribute (a JSON-able dict), so the
summary also works under pytest-xdist, where the controller only sees the workers' reports.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from pytest_execserver.checks.budgets import PHASES, LatencyStats
from pytest_execserver.checks.invariants import INVARIANTS
from pytest_execserver.telemetry.summary import TelemetrySummary


def report_outcome(report: Any) -> str:
    """``passed``/``failed``/``skipped``, or ``xfailed``/``xpassed`` for an ``xfail`` test (pytest reports
    those as skipped/passed with ``wasxfail`` set)."""
    if hasattr(report, "wasxfail"):
        if report.skipped:
            return "xfailed"
        if report.passed:
            return "xpassed"
    return str(report.outcome)


EXTRA_PHASES = ("reconnect", "recovery")  # reconnect invoke->ok; fault applied -> reconnect ok
NO_FAULT = "none"


class Summary:
    """Accumulates per-test records (see :meth:`add`)."""

    def __init__(self) -> None:
        self.matrix: dict[str, dict[str, dict[str, int]]] = defaultdict(
            lambda: defaultdict(lambda: {"pass": 0, "fail": 0})
        )
        # the checks on a client under test (exec_subject), per fault: the same shape as the invariants'
        self.client_matrix: dict[str, dict[str, dict[str, int]]] = defaultdict(
            lambda: defaultdict(lambda: {"pass": 0, "fail": 0})
        )
        self.clients: set[str] = set()
        self.outcomes: dict[str, int] = defaultdict(int)
        self.durations: dict[str, list[float]] = defaultdict(list)
        self.coverage: dict[str, dict[str, float]] = defaultdict(lambda: {"measured_ms": 0.0, "covered_ms": 0.0})
        self.tests: list[dict[str, Any]] = []
        self.budget_failures = 0
        self.telemetry = TelemetrySummary()
        # per fault kind: how process/exited reported sandboxDenied on the wire (true / false / absent)
        self.sandbox_wire: dict[str, dict[str, int]] = defaultdict(lambda: {"true": 0, "false": 0, "absent": 0})
        # per client and silent fault (blackhole, mute_pongs): each detection entry (subjects/detection.py)
        self.detection: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))

    def add(self, record: dict[str, Any], outcome: str) -> None:
        entry = {"outcome": outcome, **record}
        self.tests.append(entry)
        self.outcomes[outcome] += 1
        client = record.get("client")
        if isinstance(client, dict) and isinstance(client.get("checks"), dict):
            self.clients.add(str(client.get("name")))
            for entry in client.get("detection") or []:
                self.detection[str(client.get("name"))][str(entry.get("fault"))].append(entry)
            for kind in record.get("faults") or [NO_FAULT]:
                for name, violations in client["checks"].items():
                    self.client_matrix[kind][name]["fail" if violations else "pass"] += 1
        invariants = record.get("invariants")
        if isinstance(invariants, dict):
            for kind in record.get("faults") or [NO_FAULT]:
                for name in INVARIANTS:
                    if name in invariants:
                        cell = self.matrix[kind][name]
                        cell["fail" if invariants[name] else "pass"] += 1
        wire = record.get("sandbox_denied_on_wire")
        if isinstance(wire, dict) and any(wire.values()):
            for kind in record.get("faults") or [NO_FAULT]:
                for key, n in wire.items():
                    self.sandbox_wire[kind][key] += int(n)
        for phase, values in (record.get("durations") or {}).items():
            self.durations[phase].extend(float(v) for v in values)
        for phase, cov in (record.get("coverage") or {}).items():
            for k in ("measured_ms", "covered_ms"):
                self.coverage[phase][k] += float(cov.get(k, 0.0))
        self.telemetry.add(record.get("coverage"))
        self.budget_failures += sum(1 for b in record.get("budgets") or [] if not b.get("ok"))

    def modes_run(self) -> list[str]:
        """The client modes of the recorded tests (for the JSON header)."""
        return sorted({str(t["mode"]) for t in self.tests if t.get("mode")})

    def latency(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for phase in (*PHASES, *EXTRA_PHASES):
            stats = LatencyStats.of(self.durations.get(phase, []))
            if stats is not None:
                out[phase] = stats.to_json()
        return out

    def coverage_fractions(self) -> dict[str, dict[str, float | None]]:
        out: dict[str, dict[str, float | None]] = {}
        for phase, cov in sorted(self.coverage.items()):
            measured = cov["measured_ms"]
            if measured <= 0:
                continue
            out[phase] = {
                "measured_ms": round(measured, 3),
                "covered_ms": round(cov["covered_ms"], 3),
                "fraction": (cov["covered_ms"] / measured) if measured > 0 else None,
            }
        return out

    def to_json(self, header: dict[str, Any]) -> dict[str, Any]:
        return {
            "header": header,
            "matrix": {k: {n: dict(c) for n, c in v.items()} for k, v in sorted(self.matrix.items())},
            "client_matrix": {k: {n: dict(c) for n, c in v.items()} for k, v in sorted(self.client_matrix.items())},
            "clients": sorted(self.clients),
            "outcomes": dict(sorted(self.outcomes.items())),
            "sandbox_denied_on_wire": {k: dict(v) for k, v in sorted(self.sandbox_wire.items())},
            "latency_ms": self.latency(),
            "span_coverage": self.coverage_fractions(),
            "telemetry": self.telemetry.to_json(),
            "detection_ms": self.detection_stats(),
            "tests": self.tests,
        }

    def detection_stats(self) -> dict[str, dict[str, dict[str, Any]]]:
        """Per client and silent fault: how long until it noticed (a new connection) and answered, p50/max."""
        return {client: {kind: detection_row(entries) for kind, entries in sorted(kinds.items())}
                for client, kinds in sorted(self.detection.items())}

    def write_json(self, path: Path, header: dict[str, Any]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_json(header), indent=2, default=str) + "\n")

    # ------------------------------------------------------------------------------------ terminal

    def lines(self) -> list[str]:
        out: list[str] = []
        if self.outcomes:
            out.append("harness tests: " + ", ".join(f"{n} {outcome}" for outcome, n in sorted(self.outcomes.items())))
        if self.matrix:
            out.extend(_matrix_lines("fault x invariant (pass/fail):", self.matrix, INVARIANTS))
            if self.sandbox_wire:
                shown = ", ".join(f"{kind} {c['true']}/{c['false']}/{c['absent']}"
                                  for kind, c in sorted(self.sandbox_wire.items()))
                out.append(f"sandbox_denial, sandboxDenied on the wire (true/false/absent): {shown}")
        if self.client_matrix:
            names = sorted({n for row in self.client_matrix.values() for n in row})
            title = f"fault x client check (pass/fail), client {', '.join(sorted(self.clients))}:"
            out.extend(_matrix_lines(title, self.client_matrix, names))
        latency = self.latency()
        if latency:
            out.append("latency per phase (ms):")
            out.append(f"{'phase':<14}{'n':>7}{'p50':>10}{'p95':>10}{'p99':>10}{'max':>10}")
            for phase, s in latency.items():
                out.append(f"{phase:<14}{s['n']:>7}{s['p50']:>10.2f}{s['p95']:>10.2f}{s['p99']:>10.2f}"
                           f"{s['max']:>10.2f}")
        cov = self.coverage_fractions()
        if cov:
            parts = []
            for phase, fractions in cov.items():
                frac = fractions["fraction"]
                shown = "n/a" if frac is None else f"{frac * 100:.1f}%"
                parts.append(f"{phase} {shown} of {fractions['measured_ms'] or 0:.1f} ms")
            out.append("span coverage (named sub-phases / measured wall time): " + ", ".join(parts))
        out.extend(self.telemetry.lines())
        detection = self.detection_stats()
        if detection:
            out.append("dead-connection detection (fault -> client noticed, answered; ms):")
            for client, kinds in detection.items():
                for kind, row in kinds.items():
                    out.append(f"  {client} {kind}: {detection_text(row)}")
        return out


def _p50_max(values: list[float]) -> dict[str, float] | None:
    if not values:
        return None
    ordered = sorted(values)
    return {"p50": ordered[(len(ordered) - 1) // 2], "max": ordered[-1]}


def detection_row(entries: list[dict[str, Any]]) -> dict[str, Any]:
    """n, noticed (p50/max of those that noticed; how many never did), answered (p50/max), answers."""
    noticed = [float(e["noticed_ms"]) for e in entries if e.get("noticed_ms") is not None]
    answered = [float(e["answered_ms"]) for e in entries if e.get("answered_ms") is not None]
    answers: dict[str, int] = defaultdict(int)
    for e in entries:
        answers[str(e.get("answer"))] += 1
    return {"n": len(entries), "noticed": _p50_max(noticed), "not_noticed": len(entries) - len(noticed),
            "answered": _p50_max(answered), "answers": dict(sorted(answers.items()))}


def detection_text(row: dict[str, Any]) -> str:
    """One line of :func:`detection_row`."""
    noticed = row.get("noticed")
    answered = row.get("answered")
    parts = [f"n={row['n']}"]
    parts.append(f"noticed p50 {noticed['p50']:.0f} max {noticed['max']:.0f}" if noticed else "noticed never")
    if noticed and row.get("not_noticed"):
        parts.append(f"never noticed {row['not_noticed']}")
    if answered:
        parts.append(f"answered p50 {answered['p50']:.0f} max {answered['max']:.0f}")
    parts.append("answers " + ", ".join(f"{k} {v}" for k, v in (row.get("answers") or {}).items()))
    return "; ".join(parts)


def _matrix_lines(title: str, matrix: dict[str, dict[str, dict[str, int]]], order: Any) -> list[str]:
    """A pass/fail table, one row per fault kind and one column per check that has a cell."""
    names = [n for n in order if any(n in row for row in matrix.values())]
    width = max(12, *(len(k) for k in matrix))
    colw = max(len(n) for n in names) + 1
    out = [title, " " * width + "".join(n.rjust(colw) for n in names)]
    for kind in sorted(matrix):
        row = matrix[kind]
        cells = [(f"{row[n]['pass']}/{row[n]['fail']}" if n in row else "-").rjust(colw) for n in names]
        out.append(kind.ljust(width) + "".join(cells))
    return out
