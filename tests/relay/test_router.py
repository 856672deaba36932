"""The relay's routing and every frame / upgrade / reregister fault, on the sans-I/O router alone."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from execserver_relay.faults import FaultPlan, FrameFault, UpgradeFault
from execserver_relay.frames import build_frame, parse_frame
from execserver_relay.router import REJECTION_HEADER, Action, Admit, Close, Event, Reject, RelayRouter, Send

ENV = "env-1"
STREAM = "3f1c-stream"


@dataclass
class Wired:
    router: RelayRouter
    executor: int
    harness: int


def sends(actions: list[Action], conn: int | None = None) -> list[Send]:
    return [a for a in actions if isinstance(a, Send) and (conn is None or a.conn == conn)]


def events(actions: list[Action], name: str) -> list[Event]:
    return [a for a in actions if isinstance(a, Event) and a.event == name]


def admit(router: RelayRouter, role: str, env: str = ENV) -> int:
    decision, _ = router.open(role, env)
    assert isinstance(decision, Admit), decision
    return int(decision.conn)


@pytest.fixture
def wired() -> Wired:
    """A router with one executor and one harness whose stream is open (resume sent)."""
    router = RelayRouter(FaultPlan())
    router.registered.add(ENV)
    executor, harness = admit(router, "environment"), admit(router, "harness")
    actions = router.receive(harness, build_frame(STREAM, "resume"))
    assert [s.conn for s in sends(actions)] == [executor]
    return Wired(router, executor, harness)


def data(seq: int) -> bytes:
    return bytes(build_frame(STREAM, "data", seq=seq, payload=f"p{seq}".encode()))


def to_harness(w: Wired, seqs: range) -> list[Action]:
    return [a for seq in seqs for a in w.router.receive(w.executor, data(seq))]


def delivered_seqs(actions: list[Action], conn: int) -> list[int | None]:
    return [parse_frame(s.data).seq for s in sends(actions, conn)]


# -- routing ----------------------------------------------------------------------------------------


def test_frames_are_routed_both_ways_as_the_bytes_received(wired: Wired) -> None:
    raw = build_frame(STREAM, "handshake", payload=b"noise-msg-1")
    assert sends(wired.router.receive(wired.harness, raw)) == [Send(wired.executor, raw)]
    back = data(1)
    assert sends(wired.router.receive(wired.executor, back)) == [Send(wired.harness, back)]


def test_executor_frames_for_an_unclaimed_stream_are_dropped_and_journalled(wired: Wired) -> None:
    actions = wired.router.receive(wired.executor, build_frame("nobody", "data", seq=1, payload=b"x"))
    assert not sends(actions) and events(actions, "unroutable")


def test_a_second_harness_cannot_take_over_a_stream(wired: Wired) -> None:
    other = admit(wired.router, "harness")
    actions = wired.router.receive(other, data(1))
    assert [parse_frame(s.data).reason for s in sends(actions, other)] == ["stream_owned_by_another_harness"]
    assert not sends(actions, wired.executor)


def test_an_invalid_frame_closes_its_sender_and_resets_its_streams(wired: Wired) -> None:
    actions = wired.router.receive(wired.harness, build_frame(STREAM, "data", payload=b""))
    assert Close(wired.harness, 1008, "data frame with an empty payload") in actions
    assert [parse_frame(s.data).reason for s in sends(actions, wired.executor)] == ["peer_disconnected"]
    assert wired.router.streams == []


def test_a_harness_that_goes_away_resets_its_streams_at_the_executor(wired: Wired) -> None:
    actions = wired.router.close(wired.harness)
    assert [parse_frame(s.data).reason for s in sends(actions, wired.executor)] == ["peer_disconnected"]
    assert wired.router.close(wired.harness) == []  # idempotent


def test_an_executor_that_goes_away_resets_client_streams(wired: Wired) -> None:
    actions = wired.router.close(wired.executor)
    assert [parse_frame(s.data).reason for s in sends(actions, wired.harness)] == ["peer_disconnected"]


def test_a_stream_with_no_executor_is_reset_route_unavailable() -> None:
    router = RelayRouter()
    router.registered.add(ENV)
    harness = admit(router, "harness")
    actions = router.receive(harness, build_frame(STREAM, "resume"))
    assert [parse_frame(s.data).reason for s in sends(actions, harness)] == ["route_unavailable"]


def test_a_reset_from_one_end_is_forwarded_and_ends_the_stream(wired: Wired) -> None:
    raw = build_frame(STREAM, "reset", reason="secure_relay_protocol_error")
    assert sends(wired.router.receive(wired.executor, raw)) == [Send(wired.harness, raw)]
    assert wired.router.streams == []


def test_a_newer_executor_connection_replaces_the_old_one(wired: Wired) -> None:
    decision, actions = wired.router.open("environment", ENV)
    assert isinstance(decision, Admit)
    assert Close(wired.executor, 1000, "replaced by a newer executor connection") in actions
    assert wired.router.executor_of(ENV) == decision.conn


@pytest.mark.parametrize(("role", "env", "status", "reason"), [
    (None, ENV, 400, "missing_role"),
    ("client", ENV, 400, "invalid_role"),
    ("harness", "never-registered", 404, "unknown_route"),
])
def test_bad_upgrades_are_refused_with_a_reason(role: str | None, env: str, status: int, reason: str) -> None:
    router = RelayRouter()
    router.registered.add(ENV)
    decision, _ = router.open(role, env)
    assert decision == Reject(status, reason)
    assert decision.headers == {REJECTION_HEADER: reason}


# -- frame faults -----------------------------------------------------------------------------------


def test_drop_fault_drops_only_the_nth_data_frame_to_the_client(wired: Wired) -> None:
    wired.router.plan.add(FrameFault("drop", nth=3))
    actions = to_harness(wired, range(1, 6))
    assert delivered_seqs(actions, wired.harness) == [1, 2, 4, 5]
    assert [e.fields["seq"] for e in events(actions, "fault")] == [3]


def test_drop_fault_counts_only_its_direction(wired: Wired) -> None:
    wired.router.plan.add(FrameFault("drop", direction="to_environment", nth=1))
    assert delivered_seqs(to_harness(wired, range(1, 3)), wired.harness) == [1, 2]
    assert sends(wired.router.receive(wired.harness, data(1))) == []


def test_duplicate_fault_sends_the_frame_twice(wired: Wired) -> None:
    wired.router.plan.add(FrameFault("duplicate", nth=2))
    assert delivered_seqs(to_harness(wired, range(1, 4)), wired.harness) == [1, 2, 2, 3]


def test_reorder_fault_swaps_the_frame_with_its_successor(wired: Wired) -> None:
    wired.router.plan.add(FrameFault("reorder", nth=2))
    assert delivered_seqs(to_harness(wired, range(1, 5)), wired.harness) == [1, 3, 2, 4]


def test_delay_fault_delays_the_frame(wired: Wired) -> None:
    wired.router.plan.add(FrameFault("delay", nth=2, delay_s=1.5))
    delays = [(parse_frame(s.data).seq, s.delay_s) for s in sends(to_harness(wired, range(1, 4)), wired.harness)]
    assert delays == [(1, 0.0), (2, 1.5), (3, 0.0)]


def test_reset_fault_resets_both_ends_with_the_reason(wired: Wired) -> None:
    wired.router.plan.add(FrameFault("reset", nth=2, reason="relay_chaos"))
    actions = to_harness(wired, range(1, 4))
    harness_frames = [parse_frame(s.data) for s in sends(actions, wired.harness)]
    assert [(f.kind, f.seq, f.reason) for f in harness_frames] == [("data", 1, None), ("reset", None, "relay_chaos")]
    assert [parse_frame(s.data).reason for s in sends(actions, wired.executor)] == ["relay_chaos"]
    assert wired.router.streams == []


@pytest.mark.parametrize("role", ["environment", "harness"])
def test_cut_fault_closes_that_websocket(wired: Wired, role: str) -> None:
    wired.router.plan.add(FrameFault(f"cut_{role}", nth=2))
    actions = to_harness(wired, range(1, 3))
    victim, survivor = (wired.executor, wired.harness) if role == "environment" else (wired.harness, wired.executor)
    closes = [a for a in actions if isinstance(a, Close)]
    assert [c.conn for c in closes] == [victim]
    assert [parse_frame(s.data).reason for s in sends(actions, survivor) if parse_frame(s.data).kind == "reset"] \
        == ["peer_disconnected"]


def test_a_fault_fires_times_times_then_is_spent(wired: Wired) -> None:
    fault = FrameFault("drop", nth=2, times=2)
    wired.router.plan.add(fault)
    assert delivered_seqs(to_harness(wired, range(1, 6)), wired.harness) == [1, 4, 5]
    assert fault.times == 0


def test_faults_match_other_frame_kinds(wired: Wired) -> None:
    wired.router.plan.add(FrameFault("drop", direction="to_environment", frame_kind="handshake"))
    assert sends(wired.router.receive(wired.harness, build_frame(STREAM, "handshake", payload=b"n"))) == []


# -- upgrade faults and reregistration ----------------------------------------------------------------


@pytest.mark.parametrize(("status", "reason"), [(401, "invalid_signature"), (503, "pod_draining")])
def test_upgrade_fault_refuses_the_next_upgrade_of_that_role(status: int, reason: str) -> None:
    router = RelayRouter()
    router.registered.add(ENV)
    router.plan.add(UpgradeFault("harness", status, reason))
    assert isinstance(router.open("environment", ENV)[0], Admit)
    decision, actions = router.open("harness", ENV)
    assert decision == Reject(status, reason)
    assert events(actions, "ws_reject")[0].fields["injected"] is True
    assert isinstance(router.open("harness", ENV)[0], Admit)  # spent


def test_reregister_closes_the_executor_and_refuses_its_next_upgrade(wired: Wired) -> None:
    actions = wired.router.reregister()
    assert Close(wired.executor, 1012, "reregister") in actions
    assert wired.router.open("environment", ENV)[0] == Reject(404, "unknown_route")
    assert isinstance(wired.router.open("environment", ENV)[0], Admit)
