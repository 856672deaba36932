"""Sans-I/O websocket framing for the proxy: split a byte stream into frames, keep each frame's raw bytes.

The proxy forwards the raw bytes it parsed (so nothing changes on the wire) and reads the unmasked,
decompressed payload only to match triggers. It also builds the few frames it sends itself (close frames,
injected or re-framed messages), masked when they go to the server (RFC 6455 5.3).
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass

try:
    from websockets.speedups import apply_mask  # C, when websockets was built with it
except ImportError:  # pragma: no cover
    from websockets.utils import apply_mask

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


@dataclass(frozen=True, slots=True)
class RawFrame:
    """One frame as it came off the wire (``raw``); its payload is unmasked only when asked for."""

    fin: bool
    rsv1: bool
    opcode: int
    raw: bytes
    offset: int  # where the payload starts in ``raw``
    key: bytes | None = None  # the masking key of a client's frame

    @property
    def is_control(self) -> bool:
        return self.opcode >= 0x8

    @property
    def payload(self) -> bytes:
        data = self.raw[self.offset :]
        return apply_mask(data, self.key) if self.key is not None else data


class FrameParser:
    """Feed bytes in, get complete frames out; a partial frame stays buffered until the rest arrives."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    @property
    def buffered(self) -> int:
        """Bytes of an incomplete frame waiting for more input."""
        return len(self._buffer)

    def split(self, data: bytes) -> bytes:
        """The bytes of the complete frames, in one piece, without making frame objects (the pass-through
        path); the incomplete rest stays buffered. ``data`` itself when it is exactly whole frames."""
        if self._buffer:
            return self.feed_raw(data)[1]
        size = len(data)
        start = 0
        while size - start >= 2:
            b1 = data[start + 1]
            length = b1 & 0x7F
            pos = start + 2
            if length == 126:
                if size - pos < 2:
                    break
                (length,) = struct.unpack_from("!H", data, pos)
                pos += 2
            elif length == 127:
                if size - pos < 8:
                    break
                (length,) = struct.unpack_from("!Q", data, pos)
                pos += 8
            if b1 & 0x80:
                pos += 4
            end = pos + length
            if end > size:
                break
            start = end
        if start == size:
            return data
        self._buffer = bytearray(data[start:])
        return data[:start]

    def feed(self, data: bytes) -> list[RawFrame]:
        return self.feed_raw(data)[0]

    def feed_raw(self, data: bytes) -> tuple[list[RawFrame], bytes]:
        """The complete frames, and all their bytes in one piece (what a pass-through forwards)."""
        buf = self._buffer
        if not buf:
            buf = bytearray(data)
        else:
            buf += data
        frames: list[RawFrame] = []
        start = 0
        size = len(buf)
        while size - start >= 2:
            b0, b1 = buf[start], buf[start + 1]
            length = b1 & 0x7F
            pos = start + 2
            if length == 126:
                if size - pos < 2:
                    break
                (length,) = struct.unpack_from("!H", buf, pos)
                pos += 2
            elif length == 127:
                if size - pos < 8:
                    break
                (length,) = struct.unpack_from("!Q", buf, pos)
                pos += 8
            key = None
            if b1 & 0x80:
                if size - pos < 4:
                    break
                key = bytes(buf[pos : pos + 4])
                pos += 4
            end = pos + length
            if end > size:
                break
            frames.append(
                RawFrame(bool(b0 & 0x80), bool(b0 & 0x40), b0 & 0x0F, bytes(buf[start:end]), pos - start, key)
            )
            start = end
        complete = bytes(buf[:start]) if start else b""
        if start:
            del buf[:start]
        self._buffer = buf
        return frames, complete


def encode_frame(opcode: int, payload: bytes, *, mask: bool, fin: bool = True) -> bytes:
    """One frame with ``payload``; ``mask`` for frames a client sends (random key, RFC 6455 5.3)."""
    head = bytearray([(0x80 if fin else 0) | opcode])
    mask_bit = 0x80 if mask else 0
    n = len(payload)
    if n < 126:
        head.append(mask_bit | n)
    elif n < 1 << 16:
        head.append(mask_bit | 126)
        head += struct.pack("!H", n)
    else:
        head.append(mask_bit | 127)
        head += struct.pack("!Q", n)
    if not mask:
        return bytes(head) + payload
    key = os.urandom(4)
    return bytes(head) + key + apply_mask(payload, key)


def close_payload(code: int, reason: str = "") -> bytes:
    """The payload of a close frame: 2-byte code then a UTF-8 reason (at most 123 bytes)."""
    data = reason.encode()
    if len(data) > 123:
        raise ValueError(f"close reason is {len(data)} bytes; a close frame allows 123")
    return struct.pack("!H", code) + data


def parse_close(payload: bytes) -> tuple[int | None, str]:
    """The code and reason of a close frame's payload (``None`` when it carries no code)."""
    if len(payload) < 2:
        return None, ""
    return struct.unpack_from("!H", payload)[0], payload[2:].decode(errors="replace")
