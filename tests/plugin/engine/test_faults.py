"""Fault descriptions: validation and toxic translation (no I/O)."""

from __future__ import annotations

import re
from typing import Any, ClassVar

import pytest

from pytest_execserver.faults.kinds import (
    CUT_AT_MS,
    FAULT_KINDS,
    KINDS,
    Fault,
    FaultError,
    FaultKind,
    Param,
    ToxicSpec,
    coerce_fault,
    example,
    kind_or_fault,
    register,
)
from pytest_execserver.faults.schedule import draw_schedule


def test_kinds() -> None:
    toxiproxy = {"latency", "bandwidth", "slicer", "disconnect", "down"}
    protocol = {"drop", "delay", "duplicate", "reorder", "corrupt", "inject", "close", "cut", "blackhole",
                "mute_pongs", "server_restart", "server_pause", "client_pause"}
    assert set(FAULT_KINDS) == toxiproxy | {"receiver_lag"} | protocol
    assert {k for k in FAULT_KINDS if KINDS[k].layer == "protocol"} == protocol
    assert {k for k in FAULT_KINDS if KINDS[k].layer == "toxiproxy"} == toxiproxy


def test_latency_defaults_and_toxics() -> None:
    f = Fault("latency", ms=100, jitter=20)
    assert f.params["direction"] == "both"
    toxics = f.toxics()
    assert [(t.type, t.stream) for t in toxics] == [("latency", "upstream"), ("latency", "downstream")]
    assert toxics[0].attributes == {"latency": 100, "jitter": 20}
    assert toxics[0].to_api()["toxicity"] == 1.0


def test_latency_one_direction() -> None:
    assert [t.stream for t in Fault("latency", ms=5, direction="downstream").toxics()] == ["downstream"]


def test_bandwidth_kbps_to_rate() -> None:
    (t1, _t2) = Fault("bandwidth", kbps=100).toxics()
    assert t1.type == "bandwidth" and t1.attributes == {"rate": 13}
    assert Fault("bandwidth", kbps=1).toxics()[0].attributes == {"rate": 1}


def test_slicer() -> None:
    t = Fault("slicer", average_size=8, size_variation=20, delay_us=10, direction="upstream").toxics()
    assert len(t) == 1 and t[0].attributes == {"average_size": 8, "size_variation": 7, "delay": 10}


@pytest.mark.parametrize(
    ("params", "toxic", "attrs"),
    [
        ({}, "reset_peer", {"timeout": 0}),
        ({"after_ms": 300, "mode": "close"}, "timeout", {"timeout": 1}),
        ({"after_bytes": 1000}, "limit_data", {"bytes": 1000}),
        ({"mode": "timeout"}, "timeout", {"timeout": 0}),
    ],
)
def test_disconnect(params: dict[str, Any], toxic: str, attrs: dict[str, Any]) -> None:
    f = Fault("disconnect", **params)
    assert f.toxics()[0].type == toxic and f.toxics()[0].attributes == attrs
    assert f.params["hold_ms"] > 0
    # a cut given no time lands at CUT_AT_MS (an after_bytes cut counts its bytes from the start)
    assert f.at_ms == float(params.get("after_ms", 0 if "after_bytes" in params else CUT_AT_MS))


def test_down_and_receiver_lag_have_no_toxics() -> None:
    assert Fault("down").toxics() == [] and Fault("down").duration_ms == 200
    lag = Fault("receiver_lag", pause_ms=50, queue_limit=4)
    assert lag.toxics() == [] and not lag.is_network and lag.duration_ms == 50


def test_equality_hash_repr_replace() -> None:
    a = Fault("latency", ms=10)
    assert a == Fault("latency", ms=10, jitter=0) and hash(a) == hash(Fault("latency", ms=10))
    assert a != Fault("latency", ms=11)
    assert "Fault('latency'" in repr(a) and "ms=10" in repr(a)
    assert a.replace(ms=20)["ms"] == 20
    d = Fault("disconnect", after_ms=5).replace(after_bytes=10)
    assert d["after_bytes"] == 10 and d["at_ms"] == 5  # the limit goes in at 5 ms, then cuts after 10 bytes
    assert Fault("disconnect", after_ms=5) == Fault("disconnect", at_ms=5)  # after_ms: the old name of at_ms
    with pytest.raises(AttributeError):
        a.kind = "x"
    assert a.describe() == {"kind": "latency", "ms": 10, "jitter": 0, "direction": "both", "at_ms": 0}


@pytest.mark.parametrize(
    ("kind", "params", "message"),
    [
        ("lag", {}, "unknown fault kind 'lag'"),
        ("latency", {}, "missing required parameter 'ms'"),
        ("latency", {"ms": -1}, "'ms' must be >= 0 ms"),
        ("latency", {"ms": "10"}, "'ms' must be a number of milliseconds"),
        ("latency", {"ms": True}, "must be a number"),
        ("latency", {"ms": float("nan")}, "must be a number"),
        ("latency", {"ms": 1, "delay": 2}, "unknown parameter(s) delay"),
        ("latency", {"ms": 1, "direction": "sideways"}, "'direction' must be one of both, upstream"),
        ("bandwidth", {"kbps": 0}, "'kbps' must be a positive number"),
        ("slicer", {"average_size": 1.5}, "'average_size' must be an integer"),
        ("slicer", {"average_size": 0}, "'average_size' must be >= 1"),
        ("disconnect", {"after_ms": 1, "at_ms": 2}, "'after_ms' and 'at_ms' are the same parameter"),
        ("disconnect", {"mode": "explode"}, "'mode' must be one of reset, close, timeout"),
        ("receiver_lag", {"queue_limit": 2.5}, "'queue_limit' must be an integer"),
        ("down", {"duration_ms": -5}, "'duration_ms' must be >= 0 ms"),
    ],
)
def test_invalid(kind: str, params: dict[str, Any], message: str) -> None:
    with pytest.raises(FaultError) as info:
        Fault(kind, **params)
    assert message in str(info.value)


def test_coerce() -> None:
    assert coerce_fault("down") == Fault("down")
    assert coerce_fault({"kind": "latency", "ms": 3}) == Fault("latency", ms=3)
    with pytest.raises(FaultError, match="expected a fault kind name or a Fault"):
        coerce_fault(3)
    assert kind_or_fault("latency") == "latency"
    with pytest.raises(FaultError, match="unknown fault kind"):
        kind_or_fault("nope")
    with pytest.raises(FaultError):
        kind_or_fault(1.0)


class _Recorder:
    """A FaultTarget that records calls (the kinds' apply/remove, without Toxiproxy)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, object]] = []
        self.lagged: list[tuple[str, object]] = []

    def add_toxic(self, spec: ToxicSpec) -> None:
        self.calls.append(("add", spec.name))

    def remove_toxic(self, name: str) -> None:
        self.calls.append(("remove", name))

    def set_enabled(self, enabled: bool) -> None:
        self.calls.append(("enabled", enabled))

    def arm_protocol(self, fault: Fault) -> None:
        self.calls.append(("arm", fault))

    def clients(self) -> list[Any]:
        recorder = self

        class Client:
            @property
            def queue_limit(self) -> int:
                return 0

            @queue_limit.setter
            def queue_limit(self, value: int) -> None:
                recorder.lagged.append(("queue_limit", value))

            def pause_consumer(self, ms: float) -> None:
                recorder.lagged.append(("pause", ms))

        return [Client()]


def test_every_kind_is_one_registered_class() -> None:
    assert set(KINDS) == set(FAULT_KINDS)
    for name, kind in KINDS.items():
        assert isinstance(kind, FaultKind) and kind.name == name
        assert "at_ms" in kind.params  # every kind can be placed in time (schedules paste back)
        fault = example(name)
        assert fault.kind == name and fault.spec is kind
        target = _Recorder()
        added: list[str] = []
        kind.apply(fault, target, "p-", added)
        kind.remove(fault, target, added)
        assert [n for op, n in target.calls if op == "add"] == added == [t.name for t in fault.toxics("p-")]
    down, lag = _Recorder(), _Recorder()
    KINDS["down"].apply(example("down"), down, "", [])
    KINDS["down"].remove(example("down"), down, [])
    assert down.calls == [("enabled", False), ("enabled", True)]
    KINDS["receiver_lag"].apply(Fault("receiver_lag", pause_ms=20, queue_limit=3), lag, "", [])
    assert lag.lagged == [("queue_limit", 3), ("pause", 20.0)]
    proto = _Recorder()
    drop = Fault("drop", on="process/start:response")
    drop.spec.apply(drop, proto, "", [])
    assert proto.calls == [("arm", drop)]


ISSUE_EXAMPLES = [
    ("drop", {"on": "process/start:response"}),
    ("close", {"code": 1012, "on": "process/output", "nth": 3}),
    ("blackhole", {"on": "process/output", "nth": 2}),
    ("server_restart", {"on": "process/start:response"}),
    ("duplicate", {"on": "process/output"}),
    ("reorder", {"on": "process/output", "hold": 2}),
]


@pytest.mark.parametrize(("kind", "params"), ISSUE_EXAMPLES, ids=[k for k, _ in ISSUE_EXAMPLES])
def test_protocol_examples_parse(kind: str, params: dict[str, Any]) -> None:
    fault = Fault(kind, **params)
    assert fault.spec.layer == "protocol" and fault["nth"] == params.get("nth", 1)
    assert fault.spec.protocol_fault(fault.params).trigger.spec == params["on"]  # type: ignore[attr-defined]
    assert fault.spec.applies_before_clients(fault.params)  # armed before the clients connect
    assert eval(repr(fault)) == fault  # pasteable


@pytest.mark.parametrize(("kind", "params", "message"), [
    ("drop", {}, "missing required parameter 'on'"),
    ("drop", {"on": "process start"}, "without spaces"),
    ("drop", {"on": "process/start", "nth": 0}, "'nth' must be an integer >= 1"),
    ("reorder", {"on": "x", "hold": 0}, "'hold' must be an integer >= 1"),
    ("close", {"on": "x", "code": 999}, "1000..4999"),
    ("corrupt", {"on": "x", "how": "shuffle"}, "truncate, not_json, wrong_type"),
    ("server_pause", {"on": "x", "ms": -1}, ">= 0 ms"),
])
def test_protocol_params_validated(kind: str, params: dict[str, Any], message: str) -> None:
    with pytest.raises(FaultError, match=re.escape(message)):
        Fault(kind, **params)


def test_protocol_kinds_draw_and_place() -> None:
    schedule = draw_schedule(7, ["drop", "close", "latency"], duration_ms=1200)
    assert [s.fault.kind for s in schedule] and all(s.fault["at_ms"] == s.at_ms for s in schedule
                                                    if s.fault.spec.layer == "protocol")
    assert schedule == draw_schedule(7, ["drop", "close", "latency"], duration_ms=1200)
    placed = Fault("drop", on="process/output").spec.place(Fault("drop", on="process/output"), 40, 100)
    assert placed == Fault("drop", on="process/output", at_ms=40)


def test_a_new_kind_is_one_class() -> None:
    @register
    class Blackhole(FaultKind):
        name = "blackhole_test_only"
        params: ClassVar[dict[str, Param]] = {"at_ms": Param("ms", 0), "duration_ms": Param("ms", 100)}
        example: ClassVar[dict[str, Any]] = {}

        def toxics(self, params: Any, prefix: str) -> list[ToxicSpec]:
            return [ToxicSpec(f"{prefix}bh", "timeout", "downstream", {"timeout": 0})]

        def draw(self, rng: Any, at_ms: int, duration_ms: int) -> Fault:
            return Fault(self.name, at_ms=at_ms, duration_ms=duration_ms)

    try:
        assert Fault("blackhole_test_only").toxics()[0].type == "timeout"
        assert draw_schedule(1, ["blackhole_test_only"], duration_ms=800)[0].fault.kind == "blackhole_test_only"
        with pytest.raises(FaultError, match="unknown parameter"):
            Fault("blackhole_test_only", ms=3)
    finally:
        del KINDS["blackhole_test_only"]


@pytest.mark.parametrize("kind", ["disconnect", "down"])
def test_a_cut_given_no_time_lands_where_the_string_form_does(kind: str) -> None:
    """``chaos("disconnect")`` and ``chaos(Fault("disconnect", mode="close"))`` cut at the same time (issue 25):
    a cut during process/start (at_ms=0) only when a test asks for it."""
    assert example(kind).at_ms == Fault(kind).at_ms == CUT_AT_MS > 0
    assert Fault(kind, at_ms=0).at_ms == 0


def test_shrinking_keeps_a_protocol_faults_trigger() -> None:
    from pytest_execserver.shrink.core import simpler

    fault = Fault("delay", on="process/output", nth=3, ms=400, at_ms=130)
    variants = list(simpler(fault, 2000))
    assert variants, "a protocol fault has simpler variants (shorter, later, rounder)"
    assert all((v["on"], v["nth"], v.kind) == ("process/output", 3, "delay") for v in variants)
    assert Fault("delay", on="process/output", nth=3, ms=200, at_ms=130) in variants
