"""Fault kinds alone: construction by name, usage errors, and each kind's plan."""

from __future__ import annotations

import json
from typing import Any

import pytest

from pytest_execserver.faults.protocol import KINDS, Close, Corrupt, Delay, Duplicate, Inject, Reorder, make_fault
from pytest_execserver.faults.protocol.kinds import Message, corrupt_payload


def _reframe(opcode: int, payload: bytes) -> bytes:
    return b"F%d:" % opcode + payload


MSG = Message(1, b'{"method":"process/output","params":{"processId":"p","seq":3,"chunk":"aGk=","end":false}}',
              b"RAW")  # fmt: skip
ZMSG = Message(1, MSG.payload, b"ZRAW", compressed=True)


def test_every_kind_is_made_by_name() -> None:
    assert set(KINDS) == {"drop", "delay", "duplicate", "reorder", "corrupt", "inject", "close", "cut", "blackhole",
                          "mute_pongs", "server_restart", "server_pause", "client_pause"}  # fmt: skip
    fault = make_fault("close", code=1012, on="process/output", nth=3)
    assert isinstance(fault, Close) and fault.code == 1012 and fault.trigger.nth == 3
    assert fault.params() == {"code": 1012, "reason": "", "handshake": True, "to": "client"}


@pytest.mark.parametrize(
    ("kind", "params", "match"),
    [
        ("nope", {"on": "x"}, "unknown protocol fault kind"),
        ("drop", {}, "needs on="),
        ("drop", {"on": "x", "bogus": 1}, "bad parameters"),
        ("delay", {"on": "x", "ms": -1}, "ms= must be"),
        ("reorder", {"on": "x", "hold": 0}, "hold= must be"),
        ("corrupt", {"on": "x", "how": "flip"}, "how= must be"),
        ("close", {"on": "x", "code": 999}, "code= must be"),
        ("close", {"on": "x", "to": "both"}, "to= must be"),
        ("close", {"on": "x", "reason": "r" * 124}, "123 bytes"),
        ("blackhole", {"on": "x", "duration_ms": "soon"}, "duration_ms"),
        ("drop", {"on": "x", "nth": 0}, "nth"),
    ],
)
def test_bad_parameters_are_clear_value_errors(kind: str, params: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        make_fault(kind, **params)


def test_message_plans() -> None:
    assert make_fault("drop", on="x").plan(MSG, _reframe).send == []  # type: ignore[attr-defined]
    assert make_fault("drop", on="x").plan(ZMSG, _reframe).desync  # type: ignore[attr-defined]
    assert Duplicate(on="x").plan(MSG, _reframe).send == [b"RAW", b"RAW"]
    assert Duplicate(on="x").plan(ZMSG, _reframe).send == [b"ZRAW", b"F1:" + MSG.payload]  # copy uncompressed
    assert Delay(on="x", ms=250).plan(MSG, _reframe).delay_s == 0.25
    plan = Reorder(on="x", hold=2).plan(MSG, _reframe)
    assert (plan.send, plan.hold, plan.desync) == ([b"RAW"], 2, False)
    assert Reorder(on="x", hold=2).plan(ZMSG, _reframe).desync
    injected = Inject(on="x", frame={"method": "process/exited", "params": {"processId": "ghost"}}).plan(MSG, _reframe)
    assert injected.send == [b"RAW", b'F1:{"method":"process/exited","params":{"processId":"ghost"}}']
    assert Corrupt(on="x", how="not_json").plan(MSG, _reframe).send[0].startswith(b"F1:not json")


def test_inject_names_the_matched_process_and_repeats() -> None:
    frame = {"method": "process/exited", "params": {"processId": "{process}", "seq": 9, "tags": ["{process}"]}}
    about = Message(MSG.opcode, MSG.payload, b"RAW", process="p-1")
    plan = Inject(on="x", frame=frame, count=3).plan(about, _reframe)
    crafted = b'F1:{"method":"process/exited","params":{"processId":"p-1","seq":9,"tags":["p-1"]}}'
    assert plan.send == [b"RAW", crafted * 3]
    assert Inject(on="x", frame=frame).plan(MSG, _reframe).send[1].count(b"{process}") == 2  # no process known
    as_text = Inject(on="x", frame=json.dumps(frame, separators=(",", ":"))).plan(about, _reframe)  # as markers give it
    assert as_text.send == [b"RAW", crafted]
    with pytest.raises(ValueError, match="count="):
        make_fault("inject", on="x", frame={}, count=0)


def test_corruptions_keep_utf8_and_break_only_the_json_layer() -> None:
    truncated = corrupt_payload("é".encode() * 5, "truncate")
    assert truncated.decode() == "éé"
    with pytest.raises(ValueError):
        json.loads(corrupt_payload(MSG.payload, "truncate"))
    with pytest.raises(ValueError):
        json.loads(corrupt_payload(MSG.payload, "not_json"))
    wrong = json.loads(corrupt_payload(MSG.payload, "wrong_type"))
    assert wrong == {"method": "process/output",
                     "params": {"processId": 0, "seq": "3", "chunk": 0, "end": "wrong type"}}  # fmt: skip
    assert json.loads(corrupt_payload(b'{"id":1,"result":{"ok":true}}', "wrong_type")) == {
        "id": 1, "result": {"ok": "wrong type"}}  # fmt: skip
