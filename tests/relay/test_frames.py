"""The relay's frame envelope: parsing and the validation rules, with no network."""

from __future__ import annotations

import pytest
from execserver_relay.frames import MAX_MESSAGE_BYTES, FrameError, build_frame, parse_frame, reset_frame


def test_a_data_frame_parses_to_its_envelope_and_keeps_its_bytes() -> None:
    raw = build_frame("stream-1", "data", seq=7, payload=b"ciphertext")
    frame = parse_frame(raw)
    assert (frame.stream_id, frame.kind, frame.seq, frame.payload_bytes) == ("stream-1", "data", 7, 10)
    assert frame.raw is raw


@pytest.mark.parametrize("kind", ["resume", "handshake", "heartbeat", "ack_frame"])
def test_every_body_kind_parses(kind: str) -> None:
    payload = b"noise" if kind == "handshake" else b""
    assert parse_frame(build_frame("s", kind, payload=payload)).kind == kind


@pytest.mark.parametrize(("raw", "message"), [
    (build_frame("s", "data", payload=b"x", version=2), "version 2"),
    (build_frame("", "data", payload=b"x"), "stream_id of 0 bytes"),
    (build_frame("s" * 129, "data", payload=b"x"), "stream_id of 129 bytes"),
    (build_frame("s", "data", payload=b"x", segment=(1, 2)), "segment 1 of 2"),
    (build_frame("s", "data", payload=b""), "empty payload"),
    (build_frame("s", "reset", reason=""), "reset reason of 0 bytes"),
    (build_frame("s", "reset", reason="r" * 257), "reset reason of 257 bytes"),
    (b"\xff\xff\xff", "not a RelayMessageFrame"),
    (build_frame("s", "data", payload=b"x" * MAX_MESSAGE_BYTES), "exceeds"),
])
def test_invalid_frames_are_refused_with_the_rule_they_break(raw: bytes, message: str) -> None:
    with pytest.raises(FrameError, match=message):
        parse_frame(raw)


def test_a_frame_without_a_body_is_refused() -> None:
    from execserver_relay import relay_pb2

    raw = relay_pb2.RelayMessageFrame(version=1, stream_id="s").SerializeToString()
    with pytest.raises(FrameError, match="no body"):
        parse_frame(raw)


def test_limits_are_inclusive() -> None:
    assert parse_frame(build_frame("s" * 128, "reset", reason="r" * 256)).reason == "r" * 256


def test_reset_frame_round_trips() -> None:
    frame = parse_frame(reset_frame("abc", "pod_draining"))
    assert (frame.kind, frame.stream_id, frame.reason) == ("reset", "abc", "pod_draining")
    with pytest.raises(FrameError):
        reset_frame("abc", "")
