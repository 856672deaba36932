"""The run's telemetry tables: per whole, each sub-phase's median / p95 / share; per RPC method, the split.

Fed with each test's :func:`.analysis.analyse` result (the ``coverage`` entry of its record), so it works
under xdist too. Shares are of the summed *measured* wall time; the remainder is named ``unexplained``.
"""

from __future__ import annotations

import html
import math
from collections import defaultdict
from typing import Any

from pytest_execserver.telemetry.analysis import KINDS, subphase_order

MAX_RUN_SAMPLES = 20_000


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def _share(part: float, whole: float) -> float | None:
    return part / whole if whole > 0 else None


class TelemetrySummary:
    """Accumulates per-test samples; :meth:`to_json` and :meth:`lines` give the tables."""

    def __init__(self) -> None:
        self.samples: dict[str, list[dict[str, Any]]] = defaultdict(list)

    def add(self, coverage: dict[str, Any] | None) -> None:
        for kind, entry in (coverage or {}).items():
            if kind in KINDS and isinstance(entry, dict):
                room = MAX_RUN_SAMPLES - len(self.samples[kind])
                self.samples[kind].extend((entry.get("samples") or [])[: max(0, room)])

    def phases(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for kind in KINDS:
            samples = self.samples.get(kind)
            if not samples:
                continue
            walls = [float(s["wall"]) for s in samples]
            total = sum(walls)
            covered = sum(float(s["covered"]) for s in samples)
            names = subphase_order(kind, {n for s in samples for n in s["sub"]})
            subs: dict[str, dict[str, Any]] = {}
            for name in names:
                values = [float(s["sub"].get(name, 0.0)) for s in samples]
                subs[name] = {"p50_ms": percentile(values, 50), "p95_ms": percentile(values, 95),
                              "share": _share(sum(values), total)}
            remainders = [max(0.0, float(s["wall"]) - float(s["covered"])) for s in samples]
            subs["unexplained"] = {"p50_ms": percentile(remainders, 50), "p95_ms": percentile(remainders, 95),
                                   "share": _share(sum(remainders), total)}
            out[kind] = {
                "n": len(samples), "measured_ms": round(total, 3), "covered_ms": round(covered, 3),
                "coverage": _share(covered, total), "wall_p50_ms": percentile(walls, 50),
                "wall_p95_ms": percentile(walls, 95), "subphases": subs,
            }  # fmt: skip
        return out

    def rpc_methods(self) -> dict[str, dict[str, Any]]:
        by_method: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for s in self.samples.get("rpc", []):
            by_method[str(s.get("method"))].append(s)
        out: dict[str, dict[str, Any]] = {}
        for method in sorted(by_method):
            samples = by_method[method]
            joined = [s for s in samples if s.get("server") is not None]
            base = joined or samples
            total = sum(float(s["wall"]) for s in base)
            local = sum(float(s["local"]) for s in base)
            unexplained = sum(max(0.0, float(s["wall"]) - float(s["covered"])) for s in base)
            row: dict[str, Any] = {
                "n": len(samples), "joined": len(joined),
                "wall_p50_ms": percentile([float(s["wall"]) for s in samples], 50),
                "local_share": _share(local, total), "unexplained_share": _share(unexplained, total),
                "network_share": None, "server_share": None,
            }  # fmt: skip
            if joined:
                row["server_share"] = _share(sum(float(s["server"]) for s in joined), total)
                row["network_share"] = _share(sum(float(s["network"]) for s in joined), total)
                row["sum_share"] = _share(
                    local + sum(float(s["server"]) + float(s["network"]) for s in joined), total
                )
                row["server_p50_ms"] = percentile([float(s["server"]) for s in joined], 50)
                row["network_p50_ms"] = percentile([float(s["network"]) for s in joined], 50)
            row["local_p50_ms"] = percentile([float(s["local"]) for s in samples], 50)
            out[method] = row
        return out

    def to_json(self) -> dict[str, Any]:
        return {"phases": self.phases(), "rpc_methods": self.rpc_methods()}

    def lines(self) -> list[str]:
        out: list[str] = []
        phases = self.phases()
        for kind, p in phases.items():
            out.append(
                f"where the time goes: {kind} (n={p['n']}, wall p50 {p['wall_p50_ms']:.3f} ms, named sub-phases "
                f"explain {_pct(p['coverage'])} of {p['measured_ms']:.1f} ms measured)"
            )
            out.append(f"  {'sub-phase':<18}{'p50 ms':>10}{'p95 ms':>10}{'share':>9}")
            for name, s in p["subphases"].items():
                out.append(f"  {name:<18}{s['p50_ms']:>10.3f}{s['p95_ms']:>10.3f}{_pct(s['share']):>9}")
        methods = self.rpc_methods()
        if methods:
            out.append("per RPC method (shares of the measured wall time; server = the server's own span):")
            out.append(f"  {'method':<22}{'n':>6}{'joined':>8}{'wall p50':>10}{'local':>8}{'network':>9}"
                       f"{'server':>8}{'sum':>8}{'unexpl.':>9}")
            for method, r in methods.items():
                out.append(
                    f"  {method:<22}{r['n']:>6}{r['joined']:>8}{r['wall_p50_ms']:>10.3f}{_pct(r['local_share']):>8}"
                    f"{_pct(r['network_share']):>9}{_pct(r['server_share']):>8}{_pct(r.get('sum_share')):>8}"
                    f"{_pct(r['unexplained_share']):>9}"
                )
        return out


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.1f}%"


def html_tables(telemetry: dict[str, Any]) -> str:
    """The JSON report's ``telemetry`` entry as HTML tables (for the report page)."""
    parts: list[str] = []
    for kind, p in (telemetry.get("phases") or {}).items():
        parts.append(f"<h3>{html.escape(kind)}: n={p['n']}, wall p50 {p['wall_p50_ms']:.3f} ms, named sub-phases "
                     f"explain {_pct(p['coverage'])}</h3>")
        rows = "".join(
            f"<tr><th>{html.escape(name)}</th><td>{s['p50_ms']:.3f}</td><td>{s['p95_ms']:.3f}</td>"
            f"<td>{_pct(s['share'])}</td></tr>"
            for name, s in p["subphases"].items()
        )
        parts.append(f"<table><tr><th>sub-phase</th><th>p50 ms</th><th>p95 ms</th><th>share</th></tr>{rows}</table>")
    methods = telemetry.get("rpc_methods") or {}
    if methods:
        rows = "".join(
            f"<tr><th>{html.escape(m)}</th><td>{r['n']}</td><td>{r['joined']}</td><td>{r['wall_p50_ms']:.3f}</td>"
            f"<td>{_pct(r['local_share'])}</td><td>{_pct(r['network_share'])}</td><td>{_pct(r['server_share'])}</td>"
            f"<td>{_pct(r.get('sum_share'))}</td><td>{_pct(r['unexplained_share'])}</td></tr>"
            for m, r in methods.items()
        )
        parts.append("<h3>per RPC method (shares of the measured wall time)</h3><table><tr><th>method</th><th>n</th>"
                     "<th>joined</th><th>wall p50 ms</th><th>local</th><th>network</th><th>server</th><th>sum</th>"
                     f"<th>unexplained</th></tr>{rows}</table>")
    return "".join(parts) or "<p>No telemetry in this report.</p>"
