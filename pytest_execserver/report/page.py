"""A self-contained HTML page from the JSON report: latency per fault and mode, and the invariant matrix.

``python -m pytest_execserver.report.page reports/chaos.json`` writes ``reports/chaos.html`` (inline SVG,
no scripts, no external assets), so a nightly run leaves a picture a person can open from the artifacts.
"""

from __future__ import annotations

import argparse
import html
import json
import math
import os
from collections import defaultdict
from pathlib import Path
from typing import Any

from pytest_execserver.report.load_page import HEADER_KEYS as LOAD_HEADER_KEYS
from pytest_execserver.report.load_page import load_section
from pytest_execserver.report.summary import detection_text
from pytest_execserver.telemetry.summary import html_tables

PHASE_FOR_PICTURE = ("process", "first_output", "rpc", "connect", "initialize")
_BAR_HEIGHT = 14
_LABEL_WIDTH = 290  # 38 characters at 12 px (~7.2 px each) and a gap: labels end before the bars
_LABEL_GAP = 8
_CHART_WIDTH = 460
_VALUE_WIDTH = 230
_LABEL_CHARS = 38
_ABBREVIATIONS = {
    "bandwidth": "bw", "disconnect": "cut", "latency": "lat", "receiver_lag": "lag", "slicer": "slc",
}  # fmt: skip
_MODE_COLOURS = {"event-stream": "#2b7bb9", "legacy-read": "#d9822b"}


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, math.ceil(p / 100 * len(ordered)) - 1))
    return ordered[index]


def latency_by_fault_and_mode(report: dict[str, Any]) -> dict[str, dict[tuple[str, str], dict[str, float]]]:
    """phase -> (fault label, mode) -> {n, p50, p95} from the per-test records of a report."""
    samples: dict[str, dict[tuple[str, str], list[float]]] = defaultdict(lambda: defaultdict(list))
    for test in report.get("tests", []):
        faults = test.get("faults") or ["none"]
        label = "+".join(str(f) for f in faults)
        mode = str(test.get("mode") or "?")
        for phase, values in (test.get("durations") or {}).items():
            samples[phase][(label, mode)].extend(float(v) for v in values)
    out: dict[str, dict[tuple[str, str], dict[str, float]]] = {}
    for phase, groups in samples.items():
        out[phase] = {
            key: {"n": len(v), "p50": _percentile(v, 50), "p95": _percentile(v, 95)}
            for key, v in sorted(groups.items())
            if v
        }
    return out


def _short_label(fault: str, mode: str) -> str:
    """``fault · mode``, with a long combination (a chaos schedule) shortened to fit the label column."""
    kinds = fault.split("+")
    if len(fault) + len(mode) + 3 > _LABEL_CHARS and len(kinds) > 1:
        fault = "+".join(_ABBREVIATIONS.get(kind, kind) for kind in kinds)
    text = f"{fault} · {mode}"
    return text if len(text) <= _LABEL_CHARS else text[: _LABEL_CHARS - 1] + "…"


def _svg_chart(phase: str, rows: dict[tuple[str, str], dict[str, float]]) -> str:
    top = max((r["p95"] for r in rows.values()), default=1.0) or 1.0
    height = len(rows) * (_BAR_HEIGHT + 6) + 24
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_LABEL_WIDTH + _CHART_WIDTH + _VALUE_WIDTH}" '
        f'height="{height}" role="img" aria-label="{html.escape(phase)} latency by fault and mode">'
    ]
    for i, ((fault, mode), stats) in enumerate(rows.items()):
        y = 20 + i * (_BAR_HEIGHT + 6)
        p50_w = stats["p50"] / top * _CHART_WIDTH
        p95_w = stats["p95"] / top * _CHART_WIDTH
        colour = _MODE_COLOURS.get(mode, "#777")
        label = _short_label(fault, mode)
        full = html.escape(f"{fault} · {mode}")
        # right-aligned at the column's edge: a label wider than estimated grows to the left, never into a bar
        parts.append(f'<text x="{_LABEL_WIDTH - _LABEL_GAP}" y="{y + 11}" font-size="12" text-anchor="end">'
                     f'<title>{full}</title>{html.escape(label)}</text>')
        parts.append(
            f'<rect x="{_LABEL_WIDTH}" y="{y}" width="{p95_w:.1f}" height="{_BAR_HEIGHT}" '
            f'fill="{colour}" opacity="0.35"><title>p95 {stats["p95"]:.2f} ms</title></rect>'
        )
        parts.append(
            f'<rect x="{_LABEL_WIDTH}" y="{y}" width="{p50_w:.1f}" height="{_BAR_HEIGHT}" fill="{colour}">'
            f'<title>p50 {stats["p50"]:.2f} ms</title></rect>'
        )
        parts.append(
            f'<text x="{_LABEL_WIDTH + _CHART_WIDTH + 8}" y="{y + 11}" font-size="11">'
            f'p50 {stats["p50"]:.1f} / p95 {stats["p95"]:.1f} ms (n={int(stats["n"])})</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _matrix_table(matrix: dict[str, dict[str, dict[str, int]]],
                  sandbox_wire: dict[str, dict[str, int]] | None = None) -> str:
    """pass / fail per fault and invariant; the sandbox_denial cells also say how the server reported
    ``sandboxDenied`` (true / false / absent) in those tests."""
    sandbox_wire = sandbox_wire or {}
    names = sorted({name for row in matrix.values() for name in row})
    head = "".join(f"<th>{html.escape(n)}</th>" for n in names)
    body = []
    for fault, row in sorted(matrix.items()):
        cells = []
        for name in names:
            cell = row.get(name)
            if cell is None:
                cells.append("<td>-</td>")
                continue
            css = "fail" if cell.get("fail") else "pass"
            wire = sandbox_wire.get(fault) if name == "sandbox_denial" else None
            note = (f'<br><small>on the wire: true {wire.get("true", 0)}, false {wire.get("false", 0)}, '
                    f'absent {wire.get("absent", 0)}</small>') if wire else ""
            cells.append(f'<td class="{css}">{cell.get("pass", 0)} / {cell.get("fail", 0)}{note}</td>')
        body.append(f"<tr><th>{html.escape(fault)}</th>{''.join(cells)}</tr>")
    return f"<table><tr><th>fault</th>{head}</tr>{''.join(body)}</table>"


def _client_section(report: dict[str, Any]) -> str:
    """The checks on the client under test per fault, when a test drove one (exec_subject)."""
    matrix = report.get("client_matrix") or {}
    if not matrix:
        return ""
    clients = ", ".join(html.escape(str(c)) for c in report.get("clients") or [])
    return f"<h2>Client checks per fault (pass / fail), client {clients}</h2>{_matrix_table(matrix)}"


def _detection_section(report: dict[str, Any]) -> str:
    """Each client's time to notice a silently dead connection (blackhole, mute_pongs) and to answer."""
    stats = report.get("detection_ms") or {}
    rows = []
    for client, kinds in sorted(stats.items()):
        for kind, row in sorted(kinds.items()):
            rows.append(f"<tr><td>{html.escape(str(client))}</td><td>{html.escape(str(kind))}</td>"
                        f"<td>{html.escape(detection_text(row))}</td></tr>")
    if not rows:
        return ""
    return ("<h2>Dead-connection detection per client (ms from the fault)</h2><p>noticed: the client's first "
            "new connection; answered: the end of the run in flight</p><table><tr><th>client</th><th>fault</th>"
            f"<th>times</th></tr>{''.join(rows)}</table>")


def _failures(tests: list[dict[str, Any]], base: Path | None) -> str:
    """Failing tests with links to their timelines (relative to the page) and their shrunk schedules."""
    rows = []
    for test in tests:
        paths = test.get("artifacts") or {}
        if test.get("outcome") in ("passed", "skipped", "xfailed") or not paths:
            continue
        links = []
        for key, text in (("timeline", "timeline"), ("history", "history"), ("shrunk_schedule", "shrunk schedule")):
            if key in paths:
                href = os.path.relpath(paths[key], base) if base is not None else paths[key]
                links.append(f'<a href="{html.escape(Path(href).as_posix())}">{text}</a>')
        marker = (test.get("shrink") or {}).get("marker")
        shrunk = f"<br><code>{html.escape(marker)}</code>" if marker else ""
        name = html.escape(str(test.get("nodeid", "?")))
        rows.append(f"<tr><td>{name}{shrunk}</td><td>{' · '.join(links)}</td></tr>")
    if not rows:
        return ""
    return f"<h2>Failing tests</h2><table><tr><th>test</th><th>artifacts</th></tr>{''.join(rows)}</table>"


def _cell(value: Any) -> str:
    """A header value: nested mappings (what ran, per worker and part) as one line per entry."""
    if not isinstance(value, dict):
        return html.escape(str(value))
    if {"kind"} <= set(value) and not any(isinstance(v, dict) for v in value.values()):
        return html.escape(" ".join(str(value[k]) for k in ("kind", "path", "version", "why") if value.get(k)))
    return "<br>".join(f"{html.escape(str(k))}: {_cell(v)}" for k, v in value.items())


def render(report: dict[str, Any], base: Path | None = None) -> str:
    """The whole page as one HTML string (artifact links relative to ``base``, the page's folder)."""
    header = report.get("header") or {}
    by_phase = latency_by_fault_and_mode(report)
    charts = []
    for phase in (*PHASE_FOR_PICTURE, *sorted(set(by_phase) - set(PHASE_FOR_PICTURE))):
        if by_phase.get(phase):
            charts.append(f"<h3>{html.escape(phase)}</h3>{_svg_chart(phase, by_phase[phase])}")
    header_rows = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{_cell(v)}</td></tr>" for k, v in header.items()
                          if k not in LOAD_HEADER_KEYS)
    tests = report.get("tests", [])
    failed = [t for t in tests if t.get("outcome") not in ("passed", "skipped")]
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>pytest-execserver report</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; margin: 1em 0; }}
th, td {{ border: 1px solid #ccc; padding: 3px 8px; font-size: 13px; text-align: left; }}
td.pass {{ background: #e3f4e1; }} td.fail {{ background: #f8d7d3; font-weight: bold; }}
.legend span {{ display: inline-block; width: 12px; height: 12px; margin: 0 4px 0 12px; }}
</style></head><body>
<h1>pytest-execserver report</h1>
<table>{header_rows}<tr><th>tests</th><td>{len(tests)} ({len(failed)} not passed)</td></tr></table>
{_failures(tests, base)}
<h2>Invariants per fault (pass / fail)</h2>
{_matrix_table(report.get("matrix") or {}, report.get("sandbox_denied_on_wire"))}
{_client_section(report)}
{_detection_section(report)}
<h2>Latency per fault and mode</h2>
<p class="legend">solid bar: p50, pale bar: p95
<span style="background:{_MODE_COLOURS["event-stream"]}"></span>event-stream
<span style="background:{_MODE_COLOURS["legacy-read"]}"></span>legacy-read</p>
{"".join(charts) or "<p>No latency samples in this report.</p>"}
<h2>Where the time goes (named sub-phases; client, network and server)</h2>
{html_tables(report.get("telemetry") or {})}
{load_section(header, base)}
</body></html>
"""


def write_page(report_path: Path, out_path: Path | None = None) -> Path:
    """Render ``report_path`` (JSON) to HTML beside it (same name, ``.html``) or to ``out_path``."""
    report = json.loads(report_path.read_text())
    target = out_path or report_path.with_suffix(".html")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render(report, target.parent))
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("report", type=Path, help="JSON report written by --execserver-report")
    parser.add_argument("-o", "--output", type=Path, default=None, help="HTML file (default: beside it)")
    args = parser.parse_args(argv)
    print(write_page(args.report, args.output))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
