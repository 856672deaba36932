"""The timeline picture (:mod:`pytest_execserver.report.timeline`) from a hand-written history: lanes, bars, ticks,
fault windows, reconnects and the highlighted event, as SVG that parses."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from pytest_execserver.checks.history import HistoryEvent
from pytest_execserver.report.timeline import FAULT_COLOURS, broken_events, fault_windows, render_timeline

SVG = "{http://www.w3.org/2000/svg}"
MS = 1_000_000


def history() -> list[HistoryEvent]:
    rows: list[tuple[str, str, str, int, str | None, int | None, dict[str, Any]]] = [
        ("invoke", "rpc:process/start", "c1", 0, "p1", None, {"id": 1}),
        ("ok", "rpc:process/start", "c1", 3, "p1", None, {"id": 1}),
        ("invoke", "process", "c1", 0, "p1", None, {}),
        ("info", "wire:process/output", "c1", 10, "p1", 1, {"size": 8}),
        ("info", "fault", "harness", 20, None, None, {"kind": "latency", "ms": 50, "action": "apply"}),
        ("info", "wire:process/output", "c1", 40, "p1", 2, {"size": 8}),
        ("info", "fault", "harness", 60, None, None, {"kind": "latency", "ms": 50, "action": "remove"}),
        ("info", "fault", "harness", 70, None, None, {"kind": "disconnect", "mode": "reset", "action": "apply"}),
        ("invoke", "reconnect", "c1", 72, None, None, {"reason": "transport lost"}),
        ("info", "fault", "harness", 75, None, None, {"kind": "disconnect", "action": "remove"}),
        ("ok", "reconnect", "c1", 90, None, None, {}),
        ("info", "wire:process/output", "c1", 100, "p1", 4, {"size": 8}),
        ("invoke", "rpc:process/read", "c2", 95, "p1", None, {"id": 7}),
        ("fail", "rpc:process/read", "c2", 110, "p1", None, {"id": 7, "code": -32600}),
        ("fail", "process", "c1", 120, "p1", None, {"message": "events 3..3 no longer retained"}),
    ]
    return [HistoryEvent(i, kind, op, client, t * MS, pid, seq, data)  # type: ignore[arg-type]
            for i, (kind, op, client, t, pid, seq, data) in enumerate(rows)]


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def test_one_lane_per_client_and_one_bar_per_rpc() -> None:
    root = parse(render_timeline(history(), {}, title="t"))
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert "c1" in texts and "c2" in texts and "harness" not in texts
    titles = [t.text or "" for t in root.iter(f"{SVG}title")]
    assert any(t.startswith("rpc:process/start -> ok") for t in titles)
    assert any(t.startswith("rpc:process/read -> fail") for t in titles)
    assert sum(t.startswith("output seq") for t in titles) == 3  # one tick per arrival


def test_fault_windows_are_paired_and_shaded_by_kind() -> None:
    windows = fault_windows(history(), 120 * MS)
    assert [(k, s // MS, e // MS) for k, s, e, _ in windows] == [("latency", 20, 60), ("disconnect", 70, 75)]
    svg = render_timeline(history(), {})
    assert svg.count(f'fill="{FAULT_COLOURS["latency"]}" opacity="0.18"') == 1
    assert svg.count(f'fill="{FAULT_COLOURS["disconnect"]}" opacity="0.18"') == 1
    assert "reconnect: transport lost" in svg


def test_a_violation_rings_the_event_it_names() -> None:
    violation = {"invariant": "ordered_output", "message": "seq 3 never delivered", "process_id": "p1", "seq": 3,
                 "client": "c1"}
    ((event, message),) = broken_events(history(), {"ordered_output": [violation]})
    assert event.seq == 4 and message == "[ordered_output] seq 3 never delivered"  # where the hole showed
    svg = render_timeline(history(), {"ordered_output": [violation]})
    assert "<circle" in svg and "[ordered_output] seq 3 never delivered" in svg


def test_without_a_violation_the_first_failed_operation_is_ringed() -> None:
    ((event, message),) = broken_events(history(), {})
    assert event.op == "rpc:process/read" and "failed" in message


def test_an_empty_history_still_draws() -> None:
    assert parse(render_timeline([], {}, title="nothing")).tag == f"{SVG}svg"
