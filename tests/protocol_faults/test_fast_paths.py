"""The proxy's cheap paths give the same bytes and the same firings as the full one (core.py, wsframes.py)."""

from __future__ import annotations

import json

from pytest_execserver.faults.protocol import make_fault
from pytest_execserver.faults.protocol.core import FaultSet
from pytest_execserver.faults.protocol.wsframes import FrameParser, encode_frame

from .wire import TO_CLIENT, Wire


def _frames() -> bytes:
    return b"".join([encode_frame(0x1, b"x" * n, mask=m) for n in (0, 5, 125, 126, 300, 70_000) for m in (False, True)])


def test_split_forwards_whole_frames_uncopied_and_buffers_a_partial_one() -> None:
    data = _frames()
    parser = FrameParser()
    assert parser.split(data) is data
    for step in (1, 3, 7, 1000):
        parser = FrameParser()
        out = b"".join(parser.split(data[i : i + step]) for i in range(0, len(data), step))
        assert out == data and parser.buffered == 0
    parser = FrameParser()
    assert parser.split(data[:-1]) == data[: len(data) - len(encode_frame(0x1, b"x" * 70_000, mask=True))]
    assert parser.buffered > 0


def test_forward_is_the_pass_through_only_when_nothing_can_fire() -> None:
    frame = encode_frame(0x1, b'{"method":"process/output","params":{}}', mask=False)
    idle = Wire()
    assert idle.core.forward(TO_CLIENT, frame) == frame
    armed = Wire([make_fault("drop", on="never/sent")])
    assert armed.core.forward(TO_CLIENT, frame) is None  # the full path reads it


def test_needles_are_the_json_spelling_of_each_waiting_method() -> None:
    faults = FaultSet([make_fault("drop", on="process/output|process/read:response"),
                       make_fault("close", on="initialize:response")])
    assert faults.needles == (b'"initialize"', b'"process/output"', b'"process/read"')
    assert not faults.could_match(b'{"method":"process/exited","params":{"processId":"p"}}')
    assert faults.could_match(b'{"method":"process\\/exited"}')  # an escape could spell a name: read it


def test_a_method_spelt_with_escapes_still_fires() -> None:
    wire = Wire([make_fault("drop", on="process/output")])
    wire.server.send_text(b'{"method":"process\\/output","params":{"processId":"p","seq":1}}')
    wire.server.send_text(b'{"method":"process/exited","params":{"processId":"p"}}')
    wire.pump()
    assert [e.kind for e in wire.events] == ["drop"]
    assert [json.loads(f.data)["method"] for f in wire.client_frames()] == ["process/exited"]


def test_a_response_trigger_still_sees_its_request_among_unread_messages() -> None:
    wire = Wire([make_fault("drop", on="process/start:response", nth=2)])
    for rid in (1, 2):
        wire.client.send_text(json.dumps({"id": rid, "method": "process/read", "params": {}}).encode())
        wire.client.send_text(json.dumps({"id": 10 + rid, "method": "process/start", "params": {}}).encode())
        wire.pump()
        for answer in (rid, 10 + rid):
            wire.server.send_text(json.dumps({"id": answer, "result": {}}).encode())
        wire.pump()
    assert [e.message for e in wire.events] == ["response process/start id=12"]
    assert [json.loads(f.data)["id"] for f in wire.client_frames()] == [1, 11, 2]
