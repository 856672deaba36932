"""The matcher alone: ``on=`` parsing, message classification, response matching by id, ``nth``, ``process``."""

from __future__ import annotations

import json
from typing import Any

import pytest

from pytest_execserver.faults.protocol import Direction, MessageInfo, Trigger, make_fault
from pytest_execserver.faults.protocol.core import FaultSet
from pytest_execserver.faults.protocol.triggers import RpcTracker

UP, DOWN = Direction.TO_SERVER, Direction.TO_CLIENT


def _j(obj: Any) -> bytes:
    return json.dumps(obj).encode()


@pytest.mark.parametrize(
    ("on", "method", "kind"),
    [
        ("process/start", "process/start", None),
        ("process/start:response", "process/start", "response"),
        ("process/output:notification", "process/output", "notification"),
        ("initialize:request", "initialize", "request"),
        ("weird:method:name", "weird:method:name", None),
    ],
)
def test_on_parses_method_and_kind(on: str, method: str, kind: str | None) -> None:
    trigger = Trigger.parse(on)
    assert (trigger.method, trigger.kind, trigger.spec) == (method, kind, on)


@pytest.mark.parametrize(
    ("on", "nth", "process"),
    [("", 1, None), (":response", 1, None), ("a b", 1, None), ("x", 0, None), ("x", True, None), ("x", 1, 5)],
)
def test_bad_trigger_is_a_clear_value_error(on: str, nth: Any, process: Any) -> None:
    with pytest.raises(ValueError, match=r"on=|nth|process"):
        Trigger.parse(on, nth, process)


def test_tracker_classifies_and_names_responses_by_request_id() -> None:
    tracker = RpcTracker()
    start = {"id": 7, "method": "process/start", "params": {"processId": "p1", "argv": ["true"]}}
    assert tracker.observe(UP, _j(start)) == MessageInfo(UP, "request", "process/start", 7, "p1")
    assert tracker.observe(UP, _j({"id": "7", "method": "fs/readFile", "params": {}})).kind == "request"
    output = {"method": "process/output", "params": {"processId": "p1", "seq": 1}}
    assert tracker.observe(DOWN, _j(output)) == MessageInfo(DOWN, "notification", "process/output", None, "p1")
    assert tracker.observe(DOWN, _j({"id": 7, "result": {}})) == MessageInfo(DOWN, "response", "process/start", 7, "p1")
    assert tracker.observe(DOWN, _j({"id": "7", "error": {"code": 1}})).method == "fs/readFile"  # "7" is not 7
    assert tracker.observe(DOWN, _j({"id": 7, "result": {}})).method is None  # answered already
    assert tracker.observe(DOWN, b"not json").kind == "other"
    assert tracker.observe(DOWN, b"[1]").kind == "other"
    assert tracker.observe(DOWN, b"\x00", text=False).kind == "other"


def test_bare_method_matches_requests_and_notifications_not_responses() -> None:
    trigger = Trigger.parse("process/start")
    assert trigger.matches(MessageInfo(UP, "request", "process/start", 1))
    assert trigger.matches(MessageInfo(DOWN, "notification", "process/start"))
    assert not trigger.matches(MessageInfo(DOWN, "response", "process/start", 1))
    assert Trigger.parse("process/start:response").matches(MessageInfo(DOWN, "response", "process/start", 1))
    assert not Trigger.parse("process/start:request").matches(MessageInfo(DOWN, "notification", "process/start"))


def test_nth_and_process_count_matches_and_fire_once() -> None:
    faults = FaultSet([make_fault("drop", on="process/output", nth=3, process="p2")])
    other = MessageInfo(DOWN, "notification", "process/output", process="p1")
    mine = MessageInfo(DOWN, "notification", "process/output", process="p2")
    fired = [bool(faults.offer(info)) for info in (mine, other, mine, other, mine, mine, mine)]
    assert fired == [False, False, False, False, True, False, False]
    assert not faults.pending


def test_alternatives_match_either_and_count_together() -> None:
    trigger = Trigger.parse("process/output|process/read:response", nth=2)
    assert trigger.spec == "process/output|process/read:response"
    out = MessageInfo(Direction.TO_CLIENT, "notification", "process/output", None, "p1")
    read = MessageInfo(Direction.TO_CLIENT, "response", "process/read", 3, "p1")
    start = MessageInfo(Direction.TO_CLIENT, "response", "process/start", 2, "p1")
    assert trigger.matches(out) and trigger.matches(read) and not trigger.matches(start)
    with pytest.raises(ValueError, match="without spaces"):
        Trigger.parse("process/output|bad method")
