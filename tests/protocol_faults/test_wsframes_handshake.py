"""Framing and the upgrade as the proxy reads them, alone."""

from __future__ import annotations

import pytest

from pytest_execserver.faults.protocol.events import FaultEvent
from pytest_execserver.faults.protocol.handshake import read_response_head, split_head
from pytest_execserver.faults.protocol.wsframes import (
    OP_CLOSE,
    OP_TEXT,
    FrameParser,
    close_payload,
    encode_frame,
    parse_close,
)


@pytest.mark.parametrize("size", [0, 125, 126, 65535, 65536, 200_000])
@pytest.mark.parametrize("mask", [False, True])
def test_frames_round_trip_at_every_length_encoding_even_byte_by_byte(size: int, mask: bool) -> None:
    payload = bytes(i % 251 for i in range(size))
    wire = encode_frame(OP_TEXT, payload, mask=mask) + encode_frame(OP_CLOSE, close_payload(1012, "x"), mask=mask)
    parser = FrameParser()
    step = 1 if size < 200 else 4096
    frames = [f for i in range(0, len(wire), step) for f in parser.feed(wire[i : i + step])]
    assert [f.opcode for f in frames] == [OP_TEXT, OP_CLOSE]
    assert frames[0].payload == payload and b"".join(f.raw for f in frames) == wire
    assert parse_close(frames[1].payload) == (1012, "x")
    assert parser.buffered == 0


def test_feed_raw_returns_complete_frames_in_one_piece_and_keeps_the_rest() -> None:
    wire = encode_frame(OP_TEXT, b"a", mask=True) + encode_frame(OP_TEXT, b"bc", mask=True)
    parser = FrameParser()
    frames, complete = parser.feed_raw(wire[:-1])
    assert len(frames) == 1 and complete == wire[:7] and parser.buffered == len(wire) - 8
    frames, complete = parser.feed_raw(wire[-1:])
    assert [f.payload for f in frames] == [b"bc"] and complete == wire[7:]


def test_close_reason_over_123_bytes_is_refused() -> None:
    with pytest.raises(ValueError, match="123"):
        close_payload(1000, "r" * 124)
    assert parse_close(b"") == (None, "")


def test_response_head_tells_upgrade_and_deflate_parameters() -> None:
    head, rest = split_head(b"HTTP/1.1 101 Switching\r\nSec-WebSocket-Extensions: permessage-deflate; "
                            b"server_no_context_takeover; client_max_window_bits=10\r\n\r\n\x81\x00")  # fmt: skip
    assert rest == b"\x81\x00"
    negotiated = read_response_head(head)
    assert negotiated.upgraded
    assert negotiated.deflate == {"server_no_context_takeover": None, "client_max_window_bits": "10"}
    from_client = negotiated.decoder(from_client=True)
    assert from_client is not None
    assert (from_client.remote_no_context_takeover, from_client.remote_max_window_bits) == (False, 10)
    from_server = negotiated.decoder(from_client=False)
    assert from_server is not None
    assert (from_server.remote_no_context_takeover, from_server.remote_max_window_bits) == (True, 15)
    assert read_response_head(b"HTTP/1.1 101 OK\r\n\r\n").deflate is None
    assert not read_response_head(b"HTTP/1.1 401 Unauthorized\r\n\r\n").upgraded
    assert split_head(b"HTTP/1.1 101") is None


def test_event_as_dict_is_plain_data() -> None:
    event = FaultEvent(1, "close", "process/output", 3, 2, "to_client", "notification process/output", "fire",
                       {"code": 1012})  # fmt: skip
    assert event.as_dict() == {"t_ns": 1, "kind": "close", "on": "process/output", "nth": 3, "conn": 2,
                               "direction": "to_client", "message": "notification process/output",
                               "phase": "fire", "params": {"code": 1012}}  # fmt: skip
