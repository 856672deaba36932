"""Toxiproxy side by side: direct TCP, the embedded server and the real ``toxiproxy-server``, in one run.

Run: ``.venv/bin/pytest -p execserver tests/benchmarks/test_toxiproxy_bench.py --benchmark-only`` (or
``./run bench -k toxiproxy_bench``). Four measures, each parametrized over the
targets: round trip of 4 bytes through an echo with no toxics (the added latency is the difference to
direct), round trip with a 20 ms and a 100 ms latency toxic (the accuracy is the difference to the
configured delay), bulk echo throughput (32 MiB) and new connections per second (connect, one round trip,
close). pytest-benchmark's table holds the raw timings; the derived table is printed at the end of the run
and kept in each benchmark's ``extra_info``. Bounds are wide (a loaded 2-core machine): the proxy adds
under 1 ms per round trip, a latency toxic is within 4x max(5%, 1 ms), throughput is at least a quarter
of direct, and connections at least a tenth of direct.
"""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from pytest_execserver.faults.toxi import ToxiproxyServer, start_toxiproxy
from tests.toxiproxy.conftest import require_real
from tests.toxiproxy.toxi_helpers import TcpServer, connect, echo, recv_exactly, round_trip

TARGETS = ["direct", "embedded", "real"]
LATENCIES_MS = [20, 100]
BULK_BYTES = 32 << 20


@dataclass
class Table:
    """Derived figures per target, printed as one table at the end of the session."""

    rows: dict[str, dict[str, float]] = field(default_factory=dict)

    def put(self, target: str, column: str, value: float) -> None:
        self.rows.setdefault(target, {})[column] = value

    def lines(self) -> list[str]:
        columns = [
            ("rtt_ms", "round trip ms", "{:.3f}"),
            ("added_ms", "added ms", "{:+.3f}"),
            ("lat20_error_ms", "20 ms toxic err", "{:+.2f}"),
            ("lat100_error_ms", "100 ms toxic err", "{:+.2f}"),
            ("bulk_mb_s", "bulk MB/s", "{:.0f}"),
            ("conn_per_s", "new conn/s", "{:.0f}"),
        ]
        out = ["target    " + "".join(f"{title:>18}" for _, title, _ in columns)]
        for target in TARGETS:
            row = self.rows.get(target)
            if row is None:
                continue
            cells = [fmt.format(row[key]) if key in row else "-" for key, _, fmt in columns]
            out.append(f"{target:<10}" + "".join(f"{cell:>18}" for cell in cells))
        return out

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if self.rows:
            terminalreporter.section("Toxiproxy side by side: direct, embedded, real (medians)")
            for line in self.lines():
                terminalreporter.write_line(line)


@pytest.fixture(scope="module")
def table(request: pytest.FixtureRequest) -> Table:
    result = Table()
    request.config.pluginmanager.register(result, f"toxiproxy-bench-table-{id(result)}")
    return result


@dataclass
class Target:
    """Where to connect for each measure: the echo server itself, or a proxy in front of it."""

    plain: str
    latency: dict[int, str] = field(default_factory=dict)


@pytest.fixture(scope="module")
def echo_server() -> Iterator[TcpServer]:
    server = TcpServer(echo)
    yield server
    server.stop()


@pytest.fixture(scope="module", params=TARGETS)
def target(
    request: pytest.FixtureRequest, echo_server: TcpServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Target]:
    kind: str = request.param
    if kind == "direct":
        yield Target(echo_server.address)
        return
    if kind == "real":
        require_real()
    log_dir: Path = tmp_path_factory.mktemp(f"bench-{kind}")
    with start_toxiproxy(kind, log_dir=log_dir) as server:
        yield _proxies(server, echo_server.address)


def _proxies(server: ToxiproxyServer, upstream: str) -> Target:
    control = server.control
    result = Target(control.create_proxy("plain", upstream)["listen"])
    for ms in LATENCIES_MS:
        result.latency[ms] = control.create_proxy(f"lat{ms}", upstream)["listen"]
        control.add_toxic(f"lat{ms}", "latency", {"latency": ms})
    return result


def _kind(request: pytest.FixtureRequest) -> str:
    return str(request.node.callspec.params["target"])


def _median_s(benchmark: BenchmarkFixture) -> float | None:
    """The median of what pytest-benchmark measured (None with --benchmark-disable)."""
    stats = getattr(benchmark, "stats", None)
    return float(stats.stats.median) if stats is not None else None


def test_round_trip(
    benchmark: BenchmarkFixture, request: pytest.FixtureRequest, target: Target, table: Table
) -> None:
    with connect(target.plain) as sock:
        for _ in range(50):
            round_trip(sock)
        benchmark(round_trip, sock)
    median = _median_s(benchmark)
    if median is None:
        return
    kind = _kind(request)
    table.put(kind, "rtt_ms", median * 1000)
    benchmark.extra_info["rtt_ms"] = median * 1000
    direct = table.rows.get("direct", {}).get("rtt_ms")
    if kind != "direct" and direct is not None:
        added = median * 1000 - direct
        table.put(kind, "added_ms", added)
        benchmark.extra_info["added_ms"] = added
        assert added < 1.0, f"{kind} adds {added:.3f} ms per round trip"


@pytest.mark.parametrize("target", ["embedded", "real"], indirect=True)  # nothing to inject directly
@pytest.mark.parametrize("latency_ms", LATENCIES_MS)
def test_latency_toxic_accuracy(
    benchmark: BenchmarkFixture, request: pytest.FixtureRequest, target: Target, table: Table, latency_ms: int
) -> None:
    kind = _kind(request)
    with connect(target.latency[latency_ms]) as sock:
        round_trip(sock)
        benchmark.pedantic(  # type: ignore[no-untyped-call]
            round_trip, args=(sock,), rounds=max(5, 2000 // latency_ms), iterations=1
        )
    median = _median_s(benchmark)
    if median is None:
        return
    error = median * 1000 - latency_ms
    table.put(kind, f"lat{latency_ms}_error_ms", error)
    benchmark.extra_info.update(latency_ms=latency_ms, error_ms=error)
    assert abs(error) <= 4 * max(latency_ms * 0.05, 1.0), f"{kind}: {median * 1000:.2f} ms for {latency_ms} ms"


def _bulk_echo(address: str) -> None:
    """BULK_BYTES up and back through an echo (a sender thread keeps the pipe full)."""
    chunk = b"\0" * (1 << 20)
    with connect(address, timeout=30) as sock:

        def send_all() -> None:
            for _ in range(BULK_BYTES >> 20):
                sock.sendall(chunk)

        sender = threading.Thread(target=send_all)
        sender.start()
        assert len(recv_exactly(sock, BULK_BYTES)) == BULK_BYTES
        sender.join()


def test_bulk_throughput(
    benchmark: BenchmarkFixture, request: pytest.FixtureRequest, target: Target, table: Table
) -> None:
    benchmark.pedantic(_bulk_echo, args=(target.plain,), rounds=3, iterations=1)  # type: ignore[no-untyped-call]
    median = _median_s(benchmark)
    if median is None:
        return
    kind = _kind(request)
    mb_s = BULK_BYTES / median / 1e6
    table.put(kind, "bulk_mb_s", mb_s)
    benchmark.extra_info["mb_s"] = mb_s
    direct = table.rows.get("direct", {}).get("bulk_mb_s")
    if kind != "direct" and direct is not None:
        assert mb_s / direct >= 0.25, f"{kind} {mb_s:.0f} MB/s vs direct {direct:.0f} MB/s"


def _new_connection(address: str) -> None:
    with connect(address) as sock:
        round_trip(sock, b"x")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # RST: no TIME_WAIT pile-up


def test_new_connections(
    benchmark: BenchmarkFixture, request: pytest.FixtureRequest, target: Target, table: Table
) -> None:
    benchmark.pedantic(_new_connection, args=(target.plain,), rounds=300, iterations=1)  # type: ignore[no-untyped-call]
    median = _median_s(benchmark)
    if median is None:
        return
    kind = _kind(request)
    table.put(kind, "conn_per_s", 1 / median)
    benchmark.extra_info["conn_per_s"] = 1 / median
    direct = table.rows.get("direct", {}).get("conn_per_s")
    if kind != "direct" and direct is not None:
        assert (1 / median) / direct >= 0.1, f"{kind} {1 / median:.0f} conn/s vs direct {direct:.0f}"
