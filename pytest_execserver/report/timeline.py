"""A timeline picture (SVG) of one test's history, after Jepsen's: what happened, when, under which fault.

One lane per client: each RPC a bar from its invoke to its ok (blue) or fail (red), each process a thin
bar from start to closed/failed, output arrivals as ticks, reconnects as a bar from the transport's loss to
the resumed session with a marker. Fault windows (from the harness's ``fault`` apply/remove events) are
shaded across every lane, one colour per kind, and named in a row of their own. The event that broke an
invariant (or, for a failure without a violation, the first failed operation) is ringed in red and the
message is written under the picture.

Pure: events in, SVG text out (no scripts, no external assets); :mod:`.forensics` writes it to a file.
"""

from __future__ import annotations

import html
import textwrap
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pytest_execserver.checks.history import HistoryEvent

FAULT_COLOURS = {
    "latency": "#f2c14e", "bandwidth": "#9bc53d", "slicer": "#5bc0eb", "disconnect": "#e55934",
    "down": "#8e5572", "receiver_lag": "#fa7921",
}  # fmt: skip
_OK, _FAIL, _PROC, _TICK, _RECONNECT, _BROKEN = "#2b7bb9", "#d7263d", "#7a869a", "#333", "#6a4c93", "#d7263d"
_LEFT, _PLOT, _RIGHT = 120, 880, 20
_ROW, _BAR = 16, 11
_HARNESS = "harness"
_MAX_NOTES = 8
_SKIP_FAILS = ("ws_handshake", "connect", "reconnect")  # expected while a connection is being re-made


@dataclass(frozen=True)
class _Span:
    start: int
    end: int
    label: str
    colour: str
    title: str


def _esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def _pair(events: Sequence[HistoryEvent], prefix: str) -> list[tuple[HistoryEvent, HistoryEvent | None]]:
    """Invokes of ops starting with ``prefix`` with their ok/fail (None: never completed)."""
    pending: dict[tuple[str, str, str | None, Any], HistoryEvent] = {}
    out: list[tuple[HistoryEvent, HistoryEvent | None]] = []
    for e in events:
        if not e.op.startswith(prefix):
            continue
        key = (e.client, e.op, e.process_id, e.data.get("id"))
        if e.kind == "invoke":
            pending[key] = e
        elif e.kind in ("ok", "fail") and key in pending:
            out.append((pending.pop(key), e))
    out.extend((e, None) for e in pending.values())
    return sorted(out, key=lambda p: p[0].time_ns)


def fault_windows(events: Sequence[HistoryEvent], end_ns: int) -> list[tuple[str, int, int, dict[str, Any]]]:
    """``(kind, start_ns, end_ns, params)`` of every applied fault, from the harness's fault events."""
    open_: dict[str, list[tuple[int, dict[str, Any]]]] = defaultdict(list)
    out: list[tuple[str, int, int, dict[str, Any]]] = []
    for e in events:
        if e.op != "fault":
            continue
        kind, action = str(e.data.get("kind")), e.data.get("action")
        if action == "apply":
            if kind == "receiver_lag":  # one-shot: its window is the pause
                out.append((kind, e.time_ns, e.time_ns + int(float(e.data.get("pause_ms", 0)) * 1e6), e.data))
            else:
                open_[kind].append((e.time_ns, e.data))
        elif action == "remove" and open_[kind]:
            start, data = open_[kind].pop(0)
            out.append((kind, start, e.time_ns, data))
    out.extend((kind, start, end_ns, data) for kind, starts in open_.items() for start, data in starts)
    return sorted(out, key=lambda w: w[1])


def broken_events(events: Sequence[HistoryEvent],
                  violations: Mapping[str, Sequence[Mapping[str, Any]]]) -> list[tuple[HistoryEvent, str]]:
    """The event each violation points at (its process and seq), or the first failed operation."""
    out: list[tuple[HistoryEvent, str]] = []
    for name, found in violations.items():
        for v in found:
            pid, seq, client = v.get("process_id"), v.get("seq"), v.get("client")
            mine = [e for e in events if e.client != _HARNESS and (pid is None or e.process_id == pid)
                    and (client is None or e.client == client)]
            exact = [e for e in mine if seq is not None and e.seq == seq]
            later = [e for e in mine if seq is not None and e.seq is not None and e.seq > seq]
            pick = (exact or later or mine[-1:] or [])
            if pick:
                out.append((pick[0], f"[{name}] {v.get('message', '')}"))
    if not out:
        fails = [e for e in events if e.kind == "fail" and e.op not in _SKIP_FAILS]
        if fails:
            e = fails[0]
            out.append((e, f"{e.op} failed: {e.data.get('message') or e.data.get('error') or e.data.get('code', '')}"))
    return out


def render_timeline(events: Sequence[HistoryEvent], violations: Mapping[str, Sequence[Mapping[str, Any]]],
                    *, title: str = "", failure: str = "") -> str:
    """The SVG picture of ``events`` (one test's history) with ``violations`` (invariant -> list) marked."""
    events = sorted(events, key=lambda e: e.index)
    if not events:
        return _svg(240, [f'<text x="10" y="20" font-size="12">{_esc(title)}: empty history</text>'])
    t0 = min(e.time_ns for e in events)
    t1 = max(e.time_ns for e in events)
    windows = fault_windows(events, t1)
    t1 = max([t1, *(w[2] for w in windows)])
    span_ns = max(t1 - t0, 1_000_000)

    def x(t: int) -> float:
        return _LEFT + (t - t0) / span_ns * _PLOT

    clients = list(dict.fromkeys(e.client for e in events if e.client != _HARNESS))
    parts: list[str] = []
    y = 34
    # ---- fault row
    parts.append(f'<text x="8" y="{y + 12}" font-size="11" font-weight="bold">faults</text>')
    fault_rows: list[float] = []  # end x of the last label in each sub-row
    for kind, start, end, data in windows:
        x0, x1 = x(start), max(x(end), x(start) + 2)
        label = kind + (" " + str(data.get("mode")) if kind == "disconnect" else "")
        row = next((i for i, r in enumerate(fault_rows) if r < x0), len(fault_rows))
        if row == len(fault_rows):
            fault_rows.append(0.0)
        fault_rows[row] = x0 + max(x1 - x0, 7 * len(label))
        ry = y + row * _ROW
        params = ", ".join(f"{k}={v}" for k, v in data.items() if k not in ("action", "toxics", "kind"))
        parts.append(f'<rect x="{x0:.1f}" y="{ry}" width="{x1 - x0:.1f}" height="{_BAR}" '
                     f'fill="{FAULT_COLOURS.get(kind, "#999")}"><title>{_esc(kind)}: {_esc(params)}</title></rect>')
        lx = min(x0 + 2, _LEFT + _PLOT + _RIGHT - 6 * len(label) - 2)  # a label near the end stays inside
        parts.append(f'<text x="{lx:.1f}" y="{ry + _BAR + 10}" font-size="10">{_esc(label)}</text>')
    y += max(1, len(fault_rows)) * _ROW + 14
    lanes_top = y
    positions: dict[int, tuple[float, float]] = {}
    for client in clients:
        mine = [e for e in events if e.client == client]
        lane_top = y
        spans: list[_Span] = []
        for inv, done in _pair(mine, "rpc:"):
            end = done.time_ns if done is not None else t1
            colour = _FAIL if done is None or done.kind == "fail" else _OK
            outcome = "no reply" if done is None else done.kind
            spans.append(_Span(inv.time_ns, end, inv.op.removeprefix("rpc:"), colour,
                               f"{inv.op} -> {outcome} ({(end - inv.time_ns) / 1e6:.1f} ms)"))
        rows: list[int] = []
        for s in spans:  # greedy rows so overlapping calls do not hide each other
            row = next((i for i, r in enumerate(rows) if r < s.start), len(rows))
            if row == len(rows):
                rows.append(0)
            rows[row] = s.end + int(span_ns * 0.004)
            sy = y + row * _ROW
            x0, x1 = x(s.start), max(x(s.end), x(s.start) + 2)
            parts.append(f'<rect x="{x0:.1f}" y="{sy}" width="{x1 - x0:.1f}" height="{_BAR}" fill="{s.colour}" '
                         f'opacity="0.85"><title>{_esc(s.title)}</title></rect>')
            if x1 - x0 > 6 * len(s.label) + 4:
                parts.append(f'<text x="{x0 + 2:.1f}" y="{sy + 9}" font-size="9" fill="#fff">{_esc(s.label)}</text>')
        y += max(1, len(rows)) * _ROW
        for inv, done in _pair(mine, "process"):  # process lifetimes
            if inv.op != "process":
                continue
            end = done.time_ns if done is not None else t1
            colour = _FAIL if done is not None and done.kind == "fail" else _PROC
            parts.append(f'<rect x="{x(inv.time_ns):.1f}" y="{y + 3}" width="{max(x(end) - x(inv.time_ns), 2):.1f}" '
                         f'height="5" fill="{colour}"><title>process {_esc(inv.process_id)}</title></rect>')
            parts.append(f'<text x="{x(inv.time_ns) + 2:.1f}" y="{y + 17}" font-size="9" fill="#555">'
                         f'{_esc(inv.process_id)}</text>')
        y += _ROW + 4
        for e in mine:  # output arrivals
            if e.op == "wire:process/output":
                positions[e.index] = (x(e.time_ns), y + 5)
                parts.append(f'<line x1="{x(e.time_ns):.1f}" y1="{y}" x2="{x(e.time_ns):.1f}" y2="{y + 10}" '
                             f'stroke="{_TICK}" stroke-width="1"><title>output seq {e.seq} '
                             f'({_esc(e.data.get("size", "?"))} bytes)</title></line>')
        y += _ROW
        for inv, done in _pair(mine, "reconnect"):
            end = done.time_ns if done is not None else t1
            parts.append(f'<line x1="{x(inv.time_ns):.1f}" y1="{lane_top - 2}" x2="{x(inv.time_ns):.1f}" '
                         f'y2="{y}" stroke="{_RECONNECT}" stroke-dasharray="3,2"/>')
            parts.append(f'<path d="M{x(inv.time_ns):.1f},{lane_top - 2} l5,-6 l-10,0 z" fill="{_RECONNECT}">'
                         f'<title>reconnect: {_esc(inv.data.get("reason", ""))}</title></path>')
            parts.append(f'<rect x="{x(inv.time_ns):.1f}" y="{y - 4}" width="{max(x(end) - x(inv.time_ns), 2):.1f}" '
                         f'height="4" fill="{_RECONNECT}"><title>reconnect -> '
                         f'{"pending" if done is None else done.kind}</title></rect>')
            parts.append(f'<text x="{max(x(end), x(inv.time_ns)) + 3:.1f}" y="{y}" font-size="9" '
                         f'fill="{_RECONNECT}">reconnect</text>')
        for e in mine:
            positions.setdefault(e.index, (x(e.time_ns), lane_top + 5))
        parts.append(f'<text x="8" y="{lane_top + 12}" font-size="12" font-weight="bold">{_esc(client)}</text>')
        parts.append(f'<line x1="0" y1="{y + 3}" x2="{_LEFT + _PLOT + _RIGHT}" y2="{y + 3}" stroke="#ddd"/>')
        y += 10
    lanes_bottom = y
    shades = [f'<rect x="{x(s):.1f}" y="{lanes_top - 6}" width="{max(x(e) - x(s), 2):.1f}" '
              f'height="{lanes_bottom - lanes_top + 6}" fill="{FAULT_COLOURS.get(k, "#999")}" opacity="0.18"/>'
              for k, s, e, _ in windows]
    notes: list[str] = []
    broken = broken_events(events, violations)
    for n, (event, message) in enumerate(broken[:_MAX_NOTES], 1):
        ex, ey = positions.get(event.index, (x(event.time_ns), lanes_top))
        parts.append(f'<line x1="{ex:.1f}" y1="{lanes_top - 6}" x2="{ex:.1f}" y2="{lanes_bottom}" stroke="{_BROKEN}" '
                     f'stroke-width="1.5"/>')
        parts.append(f'<circle cx="{ex:.1f}" cy="{ey:.1f}" r="7" fill="none" stroke="{_BROKEN}" stroke-width="2.5">'
                     f'<title>{_esc(message)}</title></circle>')
        parts.append(f'<text x="{ex + 9:.1f}" y="{ey - 6:.1f}" font-size="11" font-weight="bold" '
                     f'fill="{_BROKEN}">{n}</text>')
        notes.append(f"{n}. {message} (event {event.index}, {event.op}, "
                     f"+{(event.time_ns - t0) / 1e6:.0f} ms)")
    y += 6
    axis = [f'<line x1="{_LEFT}" y1="{y}" x2="{_LEFT + _PLOT}" y2="{y}" stroke="#444"/>']
    step = _tick_step(span_ns / 1e6)
    ms = 0.0
    while ms <= span_ns / 1e6:
        tx = _LEFT + ms * 1e6 / span_ns * _PLOT
        axis.append(f'<line x1="{tx:.1f}" y1="{y}" x2="{tx:.1f}" y2="{y + 4}" stroke="#444"/>')
        axis.append(f'<text x="{tx:.1f}" y="{y + 15}" font-size="10" text-anchor="middle">{ms:g} ms</text>')
        ms += step
    y += 30
    for note in notes:
        for line in textwrap.wrap(note, 160, max_lines=3, placeholder=" ..."):
            axis.append(f'<text x="8" y="{y}" font-size="11" fill="{_BROKEN}">{_esc(line)}</text>')
            y += 14
    if len(broken) > _MAX_NOTES:
        axis.append(f'<text x="8" y="{y}" font-size="11" fill="{_BROKEN}">... and {len(broken) - _MAX_NOTES} more '
                    f'(the test report lists them all)</text>')
        y += 14
    legend = _legend(y + 4, sorted({w[0] for w in windows}))
    header = [f'<text x="8" y="16" font-size="13" font-weight="bold">{_esc(title[:120])}</text>']
    if failure:
        header.append(f'<text x="8" y="29" font-size="11" fill="{_FAIL}">{_esc(failure[:160])}</text>')
    return _svg(y + 46, [*header, *shades, *parts, *axis, *legend])


def _tick_step(total_ms: float) -> float:
    for step in (1, 2, 5, 10, 20, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10000, 30000, 60000):
        if total_ms / step <= 12:
            return float(step)
    return total_ms / 10


def _legend(y: float, kinds: list[str]) -> list[str]:
    items = [("rpc ok", _OK), ("rpc failed / no reply", _FAIL), ("process", _PROC), ("reconnect", _RECONNECT),
             *((f"fault: {k}", FAULT_COLOURS.get(k, "#999")) for k in kinds)]
    out, lx = [], 8.0
    for label, colour in items:
        if lx + 24 + 6 * len(label) > _LEFT + _PLOT:
            lx, y = 8.0, y + 16
        out.append(f'<rect x="{lx:.0f}" y="{y - 9}" width="10" height="10" fill="{colour}"/>')
        out.append(f'<text x="{lx + 14:.0f}" y="{y}" font-size="10">{_esc(label)}</text>')
        lx += 24 + 6 * len(label)
    if lx + 300 > _LEFT + _PLOT:
        lx, y = 8.0, y + 16
    out.append(f'<line x1="{lx:.0f}" y1="{y - 9}" x2="{lx:.0f}" y2="{y + 1}" stroke="{_TICK}"/>')
    out.append(f'<text x="{lx + 5:.0f}" y="{y}" font-size="10">output arrival</text>')
    lx += 100
    out.append(f'<circle cx="{lx + 5:.0f}" cy="{y - 4}" r="5" fill="none" stroke="{_BROKEN}" stroke-width="2"/>')
    out.append(f'<text x="{lx + 14:.0f}" y="{y}" font-size="10">broke an invariant / failed</text>')
    return out


def _svg(height: float, parts: list[str]) -> str:
    width = _LEFT + _PLOT + _RIGHT
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height:.0f}" '
            f'viewBox="0 0 {width} {height:.0f}" font-family="sans-serif" role="img">'
            f'<rect width="100%" height="100%" fill="#fff"/>' + "".join(parts) + "</svg>\n")
