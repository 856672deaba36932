"""One rendezvous websocket message = one protobuf ``RelayMessageFrame``: parse, validate, build resets.

The relay reads only the cleartext envelope (version, stream id, which body, sizes); payloads are Noise
ciphertext and are forwarded as the original bytes, never re-serialized. Validation follows the rules codex's
relay applies (docs/remote.md): version 1, a stream id of 1 to 128 bytes, data as segment 0 of 1 with a
non-empty payload, a reset reason of 1 to 256 bytes, at most 256 KiB a message.
"""

from __future__ import annotations

from dataclasses import dataclass

from google.protobuf.message import DecodeError

import execserver_relay.relay_pb2 as relay_pb2  # not via the package: its __init__ imports this module

FRAME_VERSION = 1
MAX_MESSAGE_BYTES = 256 * 1024
MAX_STREAM_ID_BYTES = 128
MAX_RESET_REASON_BYTES = 256
KINDS = ("data", "ack_frame", "resume", "reset", "heartbeat", "handshake")


class FrameError(ValueError):
    """A message that is not a valid ``RelayMessageFrame``; the text says which rule it breaks."""


@dataclass(frozen=True)
class Frame:
    """The cleartext envelope of one frame, and the exact bytes it arrived as."""

    raw: bytes
    stream_id: str
    kind: str  # one of KINDS
    seq: int | None = None  # data frames only
    payload_bytes: int = 0  # data / handshake payload size
    reason: str | None = None  # reset frames only
    ack: int = 0
    traceparent: str = ""

    @property
    def size(self) -> int:
        return len(self.raw)


def parse_frame(raw: bytes) -> Frame:
    """Decode and validate one websocket message; raises :class:`FrameError`."""
    if len(raw) > MAX_MESSAGE_BYTES:
        raise FrameError(f"message of {len(raw)} bytes exceeds {MAX_MESSAGE_BYTES}")
    message = relay_pb2.RelayMessageFrame()
    try:
        message.ParseFromString(raw)
    except DecodeError as exc:
        raise FrameError(f"not a RelayMessageFrame: {exc}") from None
    if message.version != FRAME_VERSION:
        raise FrameError(f"version {message.version}, expected {FRAME_VERSION}")
    stream_bytes = len(message.stream_id.encode())
    if not 1 <= stream_bytes <= MAX_STREAM_ID_BYTES:
        raise FrameError(f"stream_id of {stream_bytes} bytes, expected 1 to {MAX_STREAM_ID_BYTES}")
    kind = message.WhichOneof("body")
    if kind is None:
        raise FrameError("frame has no body")
    frame = Frame(raw, message.stream_id, kind, ack=message.ack, traceparent=message.traceparent)
    if kind == "data":
        data = message.data
        if data.segment_index != 0 or data.segment_count != 1:
            raise FrameError(f"data segment {data.segment_index} of {data.segment_count}, expected 0 of 1")
        if not data.payload:
            raise FrameError("data frame with an empty payload")
        return Frame(raw, message.stream_id, kind, seq=data.seq, payload_bytes=len(data.payload),
                     ack=message.ack, traceparent=message.traceparent)
    if kind == "handshake":
        return Frame(raw, message.stream_id, kind, payload_bytes=len(message.handshake.payload),
                     ack=message.ack, traceparent=message.traceparent)
    if kind == "reset":
        reason_bytes = len(message.reset.reason.encode())
        if not 1 <= reason_bytes <= MAX_RESET_REASON_BYTES:
            raise FrameError(f"reset reason of {reason_bytes} bytes, expected 1 to {MAX_RESET_REASON_BYTES}")
        return Frame(raw, message.stream_id, kind, reason=message.reset.reason, ack=message.ack,
                     traceparent=message.traceparent)
    return frame


def reset_frame(stream_id: str, reason: str) -> bytes:
    """The bytes of a ``reset`` frame the relay sends on its own (a fault, or a peer that went away)."""
    if not 1 <= len(reason.encode()) <= MAX_RESET_REASON_BYTES:
        raise FrameError(f"reset reason must be 1 to {MAX_RESET_REASON_BYTES} bytes")
    message = relay_pb2.RelayMessageFrame(version=FRAME_VERSION, stream_id=stream_id,
                                          reset=relay_pb2.RelayReset(reason=reason))
    return bytes(message.SerializeToString())


def build_frame(stream_id: str, kind: str, *, seq: int = 0, payload: bytes = b"", reason: str = "",
                version: int = FRAME_VERSION, segment: tuple[int, int] = (0, 1)) -> bytes:
    """Serialize a frame (tests and tools; the relay itself forwards the bytes it received)."""
    message = relay_pb2.RelayMessageFrame(version=version, stream_id=stream_id)
    if kind == "data":
        message.data.CopyFrom(relay_pb2.RelayData(seq=seq, segment_index=segment[0], segment_count=segment[1],
                                                  payload=payload))
    elif kind == "resume":
        message.resume.CopyFrom(relay_pb2.RelayResume(next_seq=seq))
    elif kind == "reset":
        message.reset.CopyFrom(relay_pb2.RelayReset(reason=reason))
    elif kind == "handshake":
        message.handshake.CopyFrom(relay_pb2.RelayHandshake(payload=payload))
    elif kind == "heartbeat":
        message.heartbeat.SetInParent()
    elif kind == "ack_frame":
        message.ack_frame.SetInParent()
    else:
        raise ValueError(f"unknown frame kind {kind!r}; expected one of {KINDS}")
    return bytes(message.SerializeToString())
