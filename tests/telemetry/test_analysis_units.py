"""The analysis without I/O: coverage of a whole by its sub-phases, the RPC split, the run's tables."""

from __future__ import annotations

from typing import Any

from pytest_execserver.telemetry.analysis import analyse, union_ns, wholes
from pytest_execserver.telemetry.names import SUBPHASE_ATTR, WALL_ATTR, WHOLE_ATTR
from pytest_execserver.telemetry.spans import SpanRecord
from pytest_execserver.telemetry.summary import TelemetrySummary, html_tables, percentile

TRACE = "ab" * 16


def span(name: str, sid: str, start: int, end: int, parent: str | None = None, **attrs: Any) -> SpanRecord:
    return SpanRecord(name, TRACE, sid, parent, start, end, attrs)


def rpc(sid: str, wall: int, subs: list[tuple[str, int, int]], method: str = "process/start") -> list[SpanRecord]:
    whole = span(f"execserver.rpc {method}", sid, 0, wall, None,
                 **{WHOLE_ATTR: "rpc", WALL_ATTR: wall, "rpc.method": method})
    children = [span(f"execserver.rpc.{n}", f"{sid[:-2]}{i:02d}", s, e, sid, **{SUBPHASE_ATTR: n})
                for i, (n, s, e) in enumerate(subs, start=10)]
    return [whole, *children]


TILED = [("serialize", 0, 100), ("send", 100, 200), ("wait", 200, 900), ("hand_off", 900, 1000)]


def test_union_merges_overlaps_and_skips_empty() -> None:
    assert union_ns([(0, 10), (5, 20), (30, 40), (50, 50)]) == 30
    assert union_ns([]) == 0


def test_tiled_sub_phases_cover_the_whole_and_a_gap_does_not() -> None:
    [whole] = wholes(rpc("00000000000000a1", 1000, TILED))
    assert whole.covered_ns == 1000 and whole.unexplained_ns == 0
    gapped = [("serialize", 0, 100), ("send", 150, 200), ("wait", 200, 900), ("hand_off", 900, 1000)]
    [whole] = wholes(rpc("00000000000000a1", 1000, gapped))
    assert (whole.covered_ns, whole.unexplained_ns) == (950, 50)


def test_wall_measured_longer_than_the_spans_is_unexplained() -> None:
    [whole] = wholes(rpc("00000000000000a1", 1300, TILED))  # spans end at 1000, the clock said 1300
    assert whole.unexplained_ns == 300


def test_overlapping_sub_phases_are_not_counted_twice() -> None:
    [whole] = wholes(rpc("00000000000000a1", 1000, [("a", 0, 600), ("b", 400, 800)]))
    assert whole.covered_ns == 800


def test_server_span_splits_the_wait_into_server_and_network() -> None:
    client = rpc("00000000000000a1", 1000, TILED)
    server = [span("execserver.server process/start", "00000000000000f1", 300, 700, "00000000000000a1")]
    [whole] = wholes(client, server)
    assert (whole.local_ns, whole.server_ns, whole.network_ns) == (300, 400, 300)
    assert whole.local_ns + (whole.server_ns or 0) + (whole.network_ns or 0) == whole.covered_ns


def test_server_span_of_another_trace_or_parent_is_not_joined() -> None:
    client = rpc("00000000000000a1", 1000, TILED)
    other_trace = SpanRecord("s", "cd" * 16, "00000000000000f1", "00000000000000a1", 300, 700)
    other_parent = span("s", "00000000000000f2", 300, 700, "00000000000000b1")
    [whole] = wholes(client, [other_trace, other_parent])
    assert whole.server_ns is None and whole.network_ns is None


def test_server_longer_than_the_wait_is_clipped_to_it() -> None:
    client = rpc("00000000000000a1", 1000, TILED)
    [whole] = wholes(client, [span("s", "00000000000000f1", 0, 5000, "00000000000000a1")])
    assert whole.server_ns == 700 and whole.network_ns == 0


def test_summary_tables_shares_and_remainder() -> None:
    summary = TelemetrySummary()
    client = rpc("00000000000000a1", 1_000_000, [(n, s * 1000, e * 1000) for n, s, e in TILED])
    client += rpc("00000000000000b1", 2_000_000, [("serialize", 0, 100_000), ("wait", 100_000, 1_500_000)],
                  method="process/read")
    server = [span("s", "00000000000000f1", 300_000, 700_000, "00000000000000a1")]
    summary.add(analyse(client, server))
    phases = summary.phases()["rpc"]
    assert phases["n"] == 2 and abs(phases["coverage"] - 2.5 / 3) < 1e-9
    assert abs(phases["subphases"]["unexplained"]["share"] - 0.5 / 3) < 1e-9
    methods = summary.rpc_methods()
    start = methods["process/start"]
    assert start["joined"] == 1 and abs(start["sum_share"] - 1.0) < 1e-9
    assert abs(start["server_share"] - 0.4) < 1e-9 and abs(start["network_share"] - 0.3) < 1e-9
    read = methods["process/read"]
    assert read["joined"] == 0 and read["server_share"] is None and abs(read["unexplained_share"] - 0.25) < 1e-9
    text = "\n".join(summary.lines())
    assert "where the time goes: rpc" in text and "unexplained" in text and "process/start" in text
    page = html_tables(summary.to_json())
    assert "<th>process/read</th>" in page and "n/a" in page


def test_percentile_nearest_rank() -> None:
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0
    assert percentile([float(i) for i in range(1, 101)], 95) == 95.0


def test_a_server_that_starts_its_own_trace_is_joined_by_time_and_method() -> None:
    client = rpc("00000000000000a1", 1000, TILED) + rpc("00000000000000b1", 1000, TILED, method="process/read")
    other = SpanRecord("process/start", "ee" * 16, "00000000000000f1", None, 250, 650, {"method": "process/start"})
    wrong_method = SpanRecord("fs/readFile", "ef" * 16, "00000000000000f2", None, 200, 900)
    found = {w.method: w for w in wholes(client, [other, wrong_method])}
    assert found["process/start"].joined_by == "time" and found["process/start"].server_ns == 400
    assert found["process/read"].server_ns is None  # each server span joins at most one RPC, of its method
