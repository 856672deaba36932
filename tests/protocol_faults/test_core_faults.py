"""Each fault kind's effect in the sans-I/O core, between websockets' own client and server protocols."""

from __future__ import annotations

import json

import pytest
from websockets.frames import Close, Frame, Opcode
from websockets.protocol import State

from pytest_execserver.faults.protocol import make_fault
from pytest_execserver.faults.protocol.core import Freeze, HangUp, Reset, Sleep
from pytest_execserver.faults.protocol.wsframes import encode_frame

from .wire import TO_CLIENT, TO_SERVER, Wire

OUTPUT = '{"method":"process/output","params":{"processId":"p","seq":%d,"chunk":"%s"}}'


def _outputs(wire: Wire, n: int, start: int = 1) -> None:
    for seq in range(start, start + n):
        wire.server.send_text((OUTPUT % (seq, "x" * 50)).encode())
    wire.pump()


def _seqs(wire: Wire, frames: list[Frame] | None = None) -> list[object]:
    seqs: list[object] = []
    for frame in wire.client_frames() if frames is None else frames:
        if frame.opcode is Opcode.TEXT:
            try:
                seqs.append(json.loads(frame.data)["params"]["seq"])
            except (ValueError, KeyError, TypeError):
                seqs.append("bad")
    return seqs


DEFLATE = pytest.mark.parametrize("deflate", [False, True], ids=["plain", "deflate"])


@DEFLATE
def test_drop_withholds_only_the_nth_match_and_a_deflate_stream_stays_readable(deflate: bool) -> None:
    wire = Wire([make_fault("drop", on="process/output", nth=2)], deflate=deflate)
    _outputs(wire, 5)
    assert _seqs(wire) == [1, 3, 4, 5]  # with deflate: 3..5 re-framed uncompressed, the client inflates nothing wrong
    [event] = wire.events
    assert (event.kind, event.on, event.nth, event.conn, event.direction, event.t_ns) == (
        "drop", "process/output", 2, 1, "to_client", 42)  # fmt: skip
    assert event.message == "notification process/output process=p"


@DEFLATE
def test_duplicate_sends_the_message_twice(deflate: bool) -> None:
    wire = Wire([make_fault("duplicate", on="process/output", nth=2)], deflate=deflate)
    _outputs(wire, 4)
    assert _seqs(wire) == [1, 2, 2, 3, 4]


@DEFLATE
def test_reorder_holds_the_message_until_k_later_ones_passed(deflate: bool) -> None:
    wire = Wire([make_fault("reorder", on="process/output", nth=2, hold=2)], deflate=deflate)
    _outputs(wire, 6)
    assert _seqs(wire) == [1, 3, 4, 2, 5, 6]


@pytest.mark.parametrize("how", ["truncate", "not_json", "wrong_type"])
def test_corrupt_replaces_the_message_with_valid_utf8(how: str) -> None:
    wire = Wire([make_fault("corrupt", on="process/output", nth=1, how=how)], deflate=True)
    _outputs(wire, 2)
    expected = "bad" if how != "wrong_type" else "1"
    assert _seqs(wire) == [expected, 2]
    assert wire.client.state is State.OPEN  # the websocket layer saw nothing wrong


def test_inject_sends_a_crafted_frame_after_the_matched_one() -> None:
    ghost = {"method": "process/output", "params": {"processId": "ghost", "seq": 99}}
    wire = Wire([make_fault("inject", on="process/output", frame=ghost)], deflate=True)
    _outputs(wire, 2)
    assert _seqs(wire) == [1, 99, 2]


def test_inject_on_a_response_names_the_process_of_its_request() -> None:
    future = {"method": "process/output", "params": {"processId": "{process}", "seq": 10**6, "chunk": ""}}
    wire = Wire([make_fault("inject", on="process/read:response", frame=future, count=2)])
    wire.client.send_text(b'{"id":7,"method":"process/read","params":{"processId":"p-7","afterSeq":0}}')
    wire.pump()
    wire.server.send_text(b'{"id":7,"result":{"chunks":[],"nextSeq":1}}')
    wire.pump()
    sent = [json.loads(f.data) for f in wire.client_frames()]
    assert [m.get("id") for m in sent] == [7, None, None]
    assert [m["params"]["processId"] for m in sent[1:]] == ["p-7", "p-7"]


def test_inject_towards_the_server_is_masked() -> None:
    wire = Wire([make_fault("inject", on="initialize:request", frame={"method": "initialized"})])
    wire.client.send_text(b'{"id":1,"method":"initialize","params":{}}')
    wire.pump()  # websockets' server protocol fails the connection on an unmasked client frame
    assert [f.data for f in wire.server_frames()][-1] == b'{"method":"initialized"}'
    assert wire.server.state is State.OPEN


def test_delay_is_a_sleep_before_the_matched_message() -> None:
    wire = Wire([make_fault("delay", on="process/output", ms=150)])
    _outputs(wire, 1)
    assert [a for a in wire.actions if isinstance(a, Sleep)] == [Sleep(0.15)]


def test_response_trigger_matches_the_reply_to_that_method_by_id() -> None:
    wire = Wire([make_fault("drop", on="process/start:response")])
    wire.client.send_text(b'{"id":1,"method":"fs/readFile","params":{}}')
    wire.client.send_text(b'{"id":2,"method":"process/start","params":{"processId":"p"}}')
    wire.pump()
    wire.server.send_text(b'{"id":2,"result":{}}')
    wire.server.send_text(b'{"id":1,"result":{"dataBase64":""}}')
    wire.pump()
    assert [json.loads(f.data)["id"] for f in wire.client_frames()] == [1]
    assert wire.events[0].message == "response process/start id=2 process=p"


@pytest.mark.parametrize("handshake", [True, False])
def test_close_sends_the_code_to_the_client_and_closes_the_server_side(handshake: bool) -> None:
    wire = Wire([make_fault("close", on="process/output", nth=2, code=1012, reason="restart", handshake=handshake)])
    _outputs(wire, 3)
    frames = wire.client_frames()
    assert _seqs(wire, frames) == [1, 2]
    assert Close.parse(frames[-1].data) == Close(1012, "restart")
    assert Close.parse(wire.server_frames()[-1].data).code == 1001
    hangups = [a for a in wire.actions if isinstance(a, HangUp)]
    # the client answered the close: with handshake the proxy then closes its TCP connection, without it never
    assert hangups == ([HangUp(TO_SERVER), HangUp(TO_CLIENT)] if handshake else [HangUp(TO_SERVER)])
    before = bytes(wire.delivered[TO_SERVER])
    wire.feed(TO_SERVER, encode_frame(1, b"late", mask=True))
    assert wire.delivered[TO_SERVER] == before  # nothing passes after the close


def test_cut_resets_after_forwarding_the_message() -> None:
    wire = Wire([make_fault("cut", on="process/output", nth=2)])
    _outputs(wire, 3)
    assert _seqs(wire) == [1, 2]
    assert any(isinstance(a, Reset) for a in wire.actions)
    assert wire.core.state == "dead"


def test_blackhole_freezes_then_thaw_releases_in_order() -> None:
    wire = Wire([make_fault("blackhole", on="process/output", nth=1, duration_ms=500)])
    wire.server.send_text((OUTPUT % (1, "a")).encode())
    wire.server.send_text((OUTPUT % (2, "b")).encode())
    wire.pump()  # both frames arrive in one read; the second is held back
    assert _seqs(wire) == [1]
    assert [a for a in wire.actions if isinstance(a, Freeze)] == [Freeze(0.5)]
    wire.perform(wire.core.thaw())
    assert _seqs(wire) == [2]
    assert [(e.kind, e.phase) for e in wire.events] == [("blackhole", "fire"), ("blackhole", "end")]


def test_mute_pongs_drops_pongs_both_ways_but_not_data() -> None:
    wire = Wire([make_fault("mute_pongs", on="initialize:request")])
    wire.client.send_ping(b"before")
    wire.pump()
    assert [f.data for f in wire.client_frames() if f.opcode is Opcode.PONG] == [b"before"]
    wire.server_frames()
    wire.client.send_text(b'{"id":1,"method":"initialize","params":{}}')
    wire.client.send_ping(b"after")
    wire.server.send_ping(b"srv")
    wire.pump()
    assert [f.opcode for f in wire.client_frames()] == [Opcode.PING]  # the server's ping, no pong
    assert [f.opcode for f in wire.server_frames()] == [Opcode.TEXT, Opcode.PING]


def test_process_kinds_only_record_an_event_for_the_hook() -> None:
    wire = Wire([make_fault("server_restart", on="process/start:response"),
                 make_fault("server_pause", on="process/start:response", ms=300)])  # fmt: skip
    wire.client.send_text(b'{"id":2,"method":"process/start","params":{"processId":"p"}}')
    wire.pump()
    wire.server.send_text(b'{"id":2,"result":{}}')
    wire.pump()
    assert len(wire.client_frames()) == 1
    assert [(e.kind, e.params) for e in wire.events] == [("server_restart", {}), ("server_pause", {"ms": 300})]


def test_a_fault_arms_across_connections() -> None:
    first = Wire([make_fault("drop", on="process/output", nth=3)])
    second = Wire(fault_set=first.faults)
    _outputs(first, 2)
    _outputs(second, 2)
    assert (_seqs(first), _seqs(second)) == ([1, 2], [2])  # the 3rd match overall was the 2nd connection's 1st
    assert second.events[0].conn == 1  # each Wire's core is connection 1 here; the proxy numbers them


def test_a_request_in_a_binary_frame_is_still_matched() -> None:
    """codex's ``exec-server forward`` sends its JSON-RPC requests in binary frames: a response trigger
    must still know which method the reply answers (issue 21: the relay topology's protocol cases)."""
    wire = Wire([make_fault("drop", on="process/start:response")])
    wire.client.send_binary(b'{"id":2,"method":"process/start","params":{"processId":"p"}}')
    wire.pump()
    wire.server.send_text(b'{"id":2,"result":{}}')
    wire.server.send_text(b'{"id":3,"result":{}}')
    wire.pump()
    assert [json.loads(f.data)["id"] for f in wire.client_frames()] == [3]
    assert wire.events[0].message == "response process/start id=2 process=p"
