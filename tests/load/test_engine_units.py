"""The load engine's logic without a server: schedule, histograms, results, thresholds, fd limits, budgets."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from typing import Any

import pytest

from pytest_execserver.load import (
    LatencyHistogram,
    LoadConfigError,
    LoadResult,
    arrival_schedule,
    check_thresholds,
    operation_count,
    parse_threshold,
    run_load_async,
)
from pytest_execserver.load.resources import ProcInfo, ResourceSample, check_resource_budget
from pytest_execserver.load.workload import one_shot_argv, output_mismatch, payload

# ------------------------------------------------------------------------------------------------ schedule


def test_open_loop_schedule_spreads_arrivals_round_robin_at_the_rate() -> None:
    schedule = arrival_schedule(clients=3, per_client=2, rate=10.0)
    flat = sorted((a.at_s, a.client, a.index) for arrivals in schedule for a in arrivals)
    assert flat == [(0.0, 0, 0), (0.1, 1, 0), (0.2, 2, 0), (0.3, 0, 1), (0.4, 1, 1), (0.5, 2, 1)]


def test_closed_loop_schedule_has_no_intended_times() -> None:
    schedule = arrival_schedule(clients=2, per_client=3, rate=None)
    assert [len(s) for s in schedule] == [3, 3]
    assert all(a.at_s is None for s in schedule for a in s)


def test_operation_count_from_duration_and_rate() -> None:
    assert operation_count(4, None, 2.0, 10.0) == 5  # 20 operations over 4 clients
    assert operation_count(4, 3, 2.0, 10.0) == 3  # an explicit count wins
    assert operation_count(4, None, 2.0, None) is None  # closed loop until the time is up


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((0, 1, None, None), "clients must be >= 1"),
        ((1, 0, None, None), "processes_per_client must be >= 1"),
        ((1, None, None, None), "give processes_per_client or duration_s"),
        ((1, 1, None, -5.0), "rate must be a positive"),
        ((1, None, float("nan"), None), "duration_s must be positive"),
    ],
)
def test_bad_load_parameters_are_a_clear_error(args: tuple[Any, ...], message: str) -> None:
    with pytest.raises(LoadConfigError, match=message):
        operation_count(*args)


# ------------------------------------------------------------------------------------------------ histogram


def test_histogram_percentiles_in_ms() -> None:
    hist = LatencyHistogram()
    for ms in range(1, 101):
        hist.record_s(ms / 1000.0)
    assert hist.count == 100
    assert hist.percentile_ms(50) == pytest.approx(50, rel=0.01)
    assert hist.percentile_ms(99) == pytest.approx(99, rel=0.01)
    assert hist.max_ms == pytest.approx(100, rel=0.01)
    assert LatencyHistogram().percentile_ms(99) == 0.0


def test_histograms_from_workers_merge_through_their_encoded_form() -> None:
    a, b, both = LatencyHistogram(), LatencyHistogram(), LatencyHistogram()
    for i in range(50):
        a.record_s(0.001 * (i + 1))
        b.record_s(0.1 * (i + 1))
        both.record_s(0.001 * (i + 1))
        both.record_s(0.1 * (i + 1))
    encoded = [a.encode(), b.encode()]
    assert all(e.startswith("HISTF") for e in encoded)  # the standard compressed base64 form
    merged = LatencyHistogram.merge(encoded)
    assert merged.count == 100
    for p in (50, 95, 99, 100):
        assert merged.percentile_ms(p) == both.percentile_ms(p)


def test_decoding_garbage_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="not an encoded HdrHistogram"):
        LatencyHistogram.decode("HISTFAAAnot-really")


# ------------------------------------------------------------------------------------------------ results


def _result(clients: int, latencies_ms: list[float], errors: int = 0, elapsed_s: float = 1.0) -> LoadResult:
    result = LoadResult(clients=clients, operations=len(latencies_ms), elapsed_s=elapsed_s)
    for ms in latencies_ms:
        result.latency.record_s(ms / 1000.0)
    for i in range(errors):
        result.add_error(f"error {i}")
    return result


def test_results_from_workers_merge_counts_and_histograms() -> None:
    one, two = _result(2, [10.0] * 90, errors=1), _result(3, [500.0] * 10, elapsed_s=2.0)
    merged = LoadResult.merge([LoadResult.from_dict(one.to_dict()), LoadResult.from_dict(two.to_dict())])
    assert (merged.clients, merged.operations, merged.errors, merged.elapsed_s) == (5, 100, 1, 2.0)
    assert merged.throughput == 50.0
    assert merged.latency.percentile_ms(50) == pytest.approx(10, rel=0.01)
    assert merged.latency.percentile_ms(95) == pytest.approx(500, rel=0.01)


def test_thresholds_pass_and_fail_with_the_measured_value() -> None:
    result = _result(1, [10.0] * 95 + [300.0] * 5, errors=2)
    assert check_thresholds(result, ["p50_ms<=20", "throughput>=50"]) == []
    failures = check_thresholds(result, ["p99_ms<=200", "errors==0", "p50_ms<100"])
    assert len(failures) == 2
    assert failures[0].startswith("p99_ms<=200 failed: measured 300")
    assert failures[1] == "errors==0 failed: measured 2.000"


@pytest.mark.parametrize(
    ("text", "message"),
    [("p95<=200", "unknown metric 'p95'"), ("p95_ms <= fast", "is not METRIC OP NUMBER"), ("p95_ms=1", "METRIC OP")],
)
def test_bad_threshold_is_a_clear_error(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_threshold(text)


# ------------------------------------------------------------------------------------------------ workload


def test_payloads_are_deterministic_distinct_and_shell_safe() -> None:
    assert payload(3, 5) == payload(3, 5)
    assert len(payload(3, 5)) == 64 and len(payload(3, 5, 1000)) == 1000
    assert len({payload(c, i) for c in range(20) for i in range(20)}) == 400
    assert all(ch.isalnum() or ch == "-" for ch in payload(7, 9, 500).decode())
    assert one_shot_argv(b"abc") == ["printf", "%s", "abc"]


def test_output_mismatch_names_what_differs() -> None:
    assert output_mismatch(b"abc", b"abc", b"", 0) is None
    assert output_mismatch(b"abc", b"abX", b"", 0) == "stdout differs at byte 2: got 3 bytes b'abX', want 3 bytes"
    assert output_mismatch(b"abc", b"ab", b"", 0) == "stdout differs at byte 2: got 2 bytes b'ab', want 3 bytes"
    assert "exit code 1" in str(output_mismatch(b"abc", b"abc", b"boom", 1))


# ------------------------------------------------------------------------------------------------ open loop


class _SerialServer:
    """Below the runner only: a 'server' that runs one operation at a time, 50 ms each."""

    def __init__(self) -> None:
        self.lock = asyncio.Lock()

    async def connect(self, url: str, index: int) -> Any:
        return _FakeClient(self.lock)


class _FakeClient:
    def __init__(self, lock: asyncio.Lock) -> None:
        self.lock = lock

    async def run(self, argv: list[str], **_: Any) -> Any:
        async with self.lock:
            await asyncio.sleep(0.05)
        return type("R", (), {"stdout": argv[2].encode(), "stderr": b"", "exit_code": 0})()

    async def close(self) -> None:
        pass


async def test_open_loop_latency_runs_from_the_intended_start_no_coordinated_omission() -> None:
    # 10 operations due every 10 ms, served one at a time in 50 ms: the last is due at 90 ms and done no
    # sooner than 500 ms, so its latency is >= 410 ms although each operation "took" 50 ms.
    server = _SerialServer()
    open_loop = await run_load_async("ws://127.0.0.1:1", clients=1, processes_per_client=10, rate=100.0,
                                     client_factory=server.connect)  # fmt: skip
    assert (open_loop.operations, open_loop.errors) == (10, 0)
    assert open_loop.latency.max_ms >= 400
    closed_loop = await run_load_async("ws://127.0.0.1:1", clients=1, processes_per_client=10,
                                       client_factory=server.connect)  # fmt: skip
    assert closed_loop.latency.percentile_ms(50) < open_loop.latency.percentile_ms(50)


# ------------------------------------------------------------------------------------------------ fd limit


def test_too_low_fd_hard_limit_is_a_clear_error() -> None:
    code = (
        "import resource; resource.setrlimit(resource.RLIMIT_NOFILE, (300, 300))\n"
        "from pytest_execserver.load import ensure_fd_capacity, LoadConfigError\n"
        "assert ensure_fd_capacity(4) == 300\n"
        "try:\n    ensure_fd_capacity(1000)\nexcept LoadConfigError as e:\n    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert "1000 clients need about 4256 open files but this process may open only 300" in out.stdout
    assert "ulimit -n 4256" in out.stdout


# ------------------------------------------------------------------------------------------------ budgets


def _sample(t: float, phase: str = "during", *, rss: float = 40.0, fds: int = 20, threads: int = 3,
            cpu: float = 1.0, kids: int = 0) -> ResourceSample:  # fmt: skip
    procs = tuple(ProcInfo(1000 + i, "sleep", "sleep 30", "marker") for i in range(kids))
    return ResourceSample(t, phase, rss, fds, threads, cpu, procs)


def test_resource_budget_passes_within_limits() -> None:
    samples = [_sample(0), _sample(1, rss=80, fds=60, kids=5), _sample(2, "idle"), _sample(3, "idle", cpu=1.05)]
    assert check_resource_budget(samples, rss_mb=100, fds=64, threads=8, descendants=0, idle_cpu_pct=10,
                                 fd_growth=2) == []  # fmt: skip


def test_each_resource_budget_fires_with_an_account() -> None:
    samples = [
        _sample(0),
        _sample(1, rss=300, fds=90, threads=40, kids=3),
        _sample(2, "idle", fds=45, cpu=1.0, kids=2),
        _sample(4, "idle", fds=45, cpu=2.0, kids=2),
    ]
    found = {v.budget: v for v in check_resource_budget(
        samples, rss_mb=100, fds=64, threads=8, descendants=0, idle_cpu_pct=10, fd_growth=5)}  # fmt: skip
    assert set(found) == {"rss_mb", "fds", "threads", "descendants", "fd_growth", "idle_cpu_pct"}
    assert found["rss_mb"].measured == 300 and "at 1.00 s (during)" in found["rss_mb"].account
    assert found["descendants"].measured == 2 and "pid 1000 'sleep'" in found["descendants"].account
    assert found["fd_growth"].measured == 25 and "20 fds at start, 45 at 4.00 s" in found["fd_growth"].account
    assert found["idle_cpu_pct"].measured == 50.0
    assert "descendants: 2 > 0: still alive" in str(found["descendants"])


def test_no_samples_is_a_violation() -> None:
    assert [v.budget for v in check_resource_budget([], rss_mb=1)] == ["samples"]
