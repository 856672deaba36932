"""Each toxic's plan, alone: input chunk + seeded random source -> what to send when. No sockets, no loop."""

from __future__ import annotations

import random
from typing import Any

import pytest
from pytoxiproxy.toxics import REGISTRY
from pytoxiproxy.toxics.bandwidth import BandwidthToxic
from pytoxiproxy.toxics.base import MAX_MS, Action, Chunk, Close, Drop, Hold, Pause, Send, Toxic
from pytoxiproxy.toxics.latency import LatencyToxic
from pytoxiproxy.toxics.limit_data import LimitDataToxic
from pytoxiproxy.toxics.reset_peer import ResetPeerToxic
from pytoxiproxy.toxics.slicer import SlicerToxic
from pytoxiproxy.toxics.slow_close import SlowCloseToxic
from pytoxiproxy.toxics.timeout import TimeoutToxic

NOW = 100.0


def plan(toxic: Toxic, data: bytes | None, *, ts: float = NOW, state: Any = None, seed: int = 1) -> list[Action]:
    item = Chunk(data, ts) if data is not None else None
    return toxic.plan(item, NOW, random.Random(seed), state)


def sent(actions: list[Action]) -> bytes:
    return b"".join(a.data for a in actions if isinstance(a, Send))


def test_pass_through_and_close() -> None:
    for kind in ("noop", "slow_close"):
        toxic = REGISTRY[kind]()
        assert plan(toxic, b"abc", ts=99.0) == [Send(b"abc", NOW, 99.0)]
    assert plan(REGISTRY["noop"](), None) == [Close(NOW)]


def test_latency_counts_from_receipt_and_stamps_the_send_time() -> None:
    toxic = LatencyToxic({"latency": 50})
    assert plan(toxic, b"x", ts=99.99) == [Send(b"x", 99.99 + 0.05, 99.99 + 0.05)]
    assert plan(toxic, None) == [Close(NOW)]


def test_latency_jitter_is_seeded_and_bounded() -> None:
    toxic = LatencyToxic({"latency": 100, "jitter": 30})
    times = [plan(toxic, b"x", seed=seed)[0] for seed in range(200)]
    delays = [round((a.at - NOW) * 1000) for a in times if isinstance(a, Send)]
    assert all(70 <= d < 130 for d in delays) and len(set(delays)) > 20
    assert plan(toxic, b"x", seed=5) == plan(toxic, b"x", seed=5)


@pytest.mark.parametrize(
    ("values", "delay_s"),
    [
        ({"latency": -5}, 0.0),  # Go: no delay
        ({"latency": 10**16}, MAX_MS / 1000),  # Go wraps; we hold for the longest Go duration
        ({"latency": 2**63 - 1, "jitter": 2**63 - 1}, None),  # Go panics in rand.Int63n; we do not
    ],
)
def test_latency_edges(values: dict[str, int], delay_s: float | None) -> None:
    (action,) = plan(LatencyToxic(values), b"x")
    assert isinstance(action, Send) and NOW <= action.at <= NOW + MAX_MS / 1000
    if delay_s is not None:
        assert action.at == NOW + delay_s


def test_bandwidth_paces_100_ms_slices_and_queues_chunks() -> None:
    toxic = BandwidthToxic({"rate": 1})  # 1 KB/s = 1 byte per ms: slices of 100 bytes
    state = toxic.new_state()
    first = plan(toxic, b"a" * 250, state=state)
    assert [(len(a.data), round(a.at - NOW, 6)) for a in first if isinstance(a, Send)] == [
        (100, 0.1), (100, 0.2), (50, 0.25),
    ]
    second = plan(toxic, b"b" * 10, state=state)  # arrives while the line is busy: waits its turn
    assert [(a.data, round(a.at - NOW, 6)) for a in second if isinstance(a, Send)] == [(b"b" * 10, 0.26)]


@pytest.mark.parametrize("rate", [0, -5])
def test_bandwidth_without_a_rate_holds(rate: int) -> None:
    toxic = BandwidthToxic({"rate": rate})
    assert plan(toxic, b"data", state=toxic.new_state()) == [Hold(), Send(b"data", NOW, NOW)]


def go_chunk(average: int, variation: int, start: int, end: int, rng: random.Random) -> list[int]:
    """Go 2.12's SlicerToxic.chunk, transcribed, for the configurations Go handles."""
    if (end - start) - average <= variation:
        return [start, end]
    mid = start + (end - start) // 2
    if variation > 0:
        mid += rng.randrange(variation * 2) - variation
    return go_chunk(average, variation, start, mid, rng) + go_chunk(average, variation, mid, end, rng)


@pytest.mark.parametrize(("average", "variation", "size"), [(10, 5, 1000), (1, 0, 64), (100, 99, 5000), (7, 3, 7)])
def test_slicer_cuts_like_go_where_go_works(average: int, variation: int, size: int) -> None:
    toxic = SlicerToxic({"average_size": average, "size_variation": variation})
    for seed in range(20):
        assert toxic.offsets(0, size, random.Random(seed)) == go_chunk(average, variation, 0, size, random.Random(seed))


def test_slicer_plan_spaces_slices_by_delay() -> None:
    toxic = SlicerToxic({"average_size": 10, "size_variation": 0, "delay": 1000})  # 1 ms
    actions = plan(toxic, bytes(range(40)))
    sends = [a for a in actions if isinstance(a, Send)]
    assert [len(a.data) for a in sends] == [10, 10, 10, 10]
    assert [round(a.at - NOW, 6) for a in sends] == [0, 0.001, 0.002, 0.003]
    assert actions[-1] == Pause(NOW + 0.004) and sent(actions) == bytes(range(40))


@pytest.mark.parametrize(
    "values",
    [
        {"average_size": 0},
        {"average_size": 10, "size_variation": 10},
        {"average_size": 1, "size_variation": 5000},
        {"average_size": -4, "size_variation": -3},
        {"average_size": 3, "size_variation": 1, "delay": -5},
    ],
)
def test_slicer_where_go_crashes_terminates_with_every_byte(values: dict[str, int]) -> None:
    data = bytes(range(256)) * 64  # 16 KiB: Go's recursion would overflow or slice out of bounds
    actions = plan(SlicerToxic(values), data)
    assert sent(actions) == data
    assert all(a.data for a in actions if isinstance(a, Send))
    assert all(a.at >= NOW for a in actions if isinstance(a, Send | Pause))


def test_timeout_swallows_then_closes() -> None:
    toxic = TimeoutToxic({"timeout": 300})
    assert toxic.idle_timeout() == 0.3
    assert plan(toxic, b"lost") == [Drop(4)]
    assert plan(toxic, None) == [Close(NOW + 0.3)]
    assert toxic.closes_on_removal
    for forever in (0, -1):
        assert TimeoutToxic({"timeout": forever}).idle_timeout() is None
        assert plan(TimeoutToxic({"timeout": forever}), None) == [Hold()]


def test_limit_data_counts_across_chunks() -> None:
    toxic = LimitDataToxic({"bytes": 100})
    state = toxic.new_state()
    assert plan(toxic, b"a" * 60, state=state) == [Send(b"a" * 60, NOW, NOW)]
    assert plan(toxic, b"b" * 60, state=state) == [Send(b"b" * 40, NOW, NOW), Drop(20), Close(NOW)]
    assert LimitDataToxic.state_survives_update
    negative = LimitDataToxic({"bytes": -1})
    assert plan(negative, b"x", state=negative.new_state()) == [Drop(1), Close(NOW)]


def test_slow_close_delays_only_the_close() -> None:
    toxic = SlowCloseToxic({"delay": 250})
    assert plan(toxic, None) == [Close(NOW + 0.25)]
    assert plan(SlowCloseToxic({"delay": -1}), None) == [Close(NOW)]


def test_reset_peer_drops_the_first_data_and_closes_after_the_timeout() -> None:
    toxic = ResetPeerToxic({"timeout": 200})
    assert plan(toxic, b"payload") == [Drop(7), Close(NOW + 0.2)]
    assert plan(toxic, None) == [Close(NOW + 0.2)]
