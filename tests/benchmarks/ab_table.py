"""The A/B table printed after the benchmarks: legacy-read (baseline) vs event-stream (optimized)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ABResult:
    server: str
    mode: str
    latency_ms: int
    completion: dict[str, float]
    connect: dict[str, float]


RESULTS: list[ABResult] = []


def record_result(result: ABResult) -> None:
    RESULTS.append(result)


def _change(baseline: float, optimized: float) -> str:
    return f"{(optimized - baseline) / baseline * 100:+.1f}%" if baseline else "n/a"


def ab_table_lines(results: list[ABResult]) -> list[str]:
    """One row per (server, latency): baseline and optimized median/p95 of one-shot completion."""
    by_key = {(r.server, r.latency_ms, r.mode): r for r in results}
    lines = [
        f"{'server':<7}{'latency':>9}  {'metric':<7}{'legacy-read':>13}{'event-stream':>14}"
        f"{'change':>9}{'ratio':>7}{'floor':>8}"
    ]
    for server, latency in sorted({(r.server, r.latency_ms) for r in results}):
        base = by_key.get((server, latency, "legacy-read"))
        opt = by_key.get((server, latency, "event-stream"))
        if base is None or opt is None:
            continue
        no_fault = by_key.get((server, 0, "event-stream"))
        floor = 2 * latency + (no_fault.completion["p50"] if no_fault else 0.0)
        for metric in ("p50", "p95"):
            b, o = base.completion[metric], opt.completion[metric]
            ratio = o / b if b else float("nan")
            floor_text = f"{floor:8.1f}" if metric == "p50" else ""
            lines.append(
                f"{server:<7}{latency:>7}ms  {metric:<7}{b:>11.1f}ms{o:>12.1f}ms{_change(b, o):>9}"
                f"{ratio:>7.2f}{floor_text}"
            )
    cold = sorted({(r.server, r.latency_ms) for r in results})
    lines.append("")
    lines.append("cold connect+initialize p50 (ms): " + ", ".join(
        f"{s}@{lat}ms={by_key[(s, lat, 'event-stream')].connect['p50']:.1f}"
        for s, lat in cold if (s, lat, "event-stream") in by_key
    ))  # fmt: skip
    return lines
