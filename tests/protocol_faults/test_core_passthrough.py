"""The core with no fault: every byte passes unchanged (messages, fragments, pings, compression, close codes)."""

from __future__ import annotations

import pytest
from websockets.frames import Close, Opcode

from pytest_execserver.faults.protocol import make_fault

from .wire import TO_CLIENT, TO_SERVER, Wire


def _exchange(wire: Wire) -> None:
    wire.client.send_text(b'{"id":1,"method":"initialize","params":{}}')
    wire.server.send_text(b'{"id":1,"result":{"sessionId":"s"}}')
    wire.client.send_text(b'{"method":"x","params":', fin=False)  # a fragmented message...
    wire.client.send_ping(b"mid")  # ...with a ping between its fragments
    wire.client.send_continuation(b'{"processId":"p"}}', fin=True)
    wire.server.send_binary(bytes(range(256)) * 300)
    wire.server.send_ping(b"p1")
    wire.client.send_text(("é" * 70000).encode())
    wire.pump()
    wire.client.send_close(4321, "bye")
    wire.pump()


@pytest.mark.parametrize("deflate", [False, True], ids=["plain", "deflate"])
def test_no_fault_passes_every_byte_unchanged(deflate: bool) -> None:
    wire = Wire(deflate=deflate)
    _exchange(wire)
    assert wire.delivered[TO_SERVER] == wire.sent[TO_SERVER]
    assert wire.delivered[TO_CLIENT] == wire.sent[TO_CLIENT]
    frames = wire.server_frames()
    opcodes = [f.opcode for f in frames if f.opcode is not Opcode.PONG]
    assert opcodes == [Opcode.TEXT, Opcode.TEXT, Opcode.PING, Opcode.CONT, Opcode.TEXT, Opcode.CLOSE]
    assert [f.data for f in frames if f.opcode is Opcode.PONG] == [b"p1"]
    assert Close.parse(frames[-1].data) == Close(4321, "bye")
    assert wire.client_frames()[-1].opcode is Opcode.CLOSE
    assert wire.actions == []


def test_deflate_is_negotiated_and_read(deflate: bool = True) -> None:
    wire = Wire([make_fault("drop", on="never/sent")], deflate=True)
    assert wire.core.negotiated is not None and wire.core.negotiated.deflate is not None
    for n in range(3):
        wire.server.send_text(b'{"method":"process/output","params":{"processId":"p","seq":%d}}' % n)
    wire.pump()
    assert [f.rsv1 for f in wire.client_frames()] == [False] * 3  # websockets strips rsv1 after inflating
    assert wire.delivered[TO_CLIENT] == wire.sent[TO_CLIENT]
    assert wire.faults.armed[0].seen == 0


@pytest.mark.parametrize("deflate", [False, True], ids=["plain", "deflate"])
def test_fragments_are_held_only_while_a_fault_is_armed(deflate: bool) -> None:
    wire = Wire([make_fault("drop", on="x:notification")], deflate=deflate)
    wire.client.send_text(b'{"method":"x",', fin=False)
    wire.pump()
    assert wire.delivered[TO_SERVER] != wire.sent[TO_SERVER]  # the first fragment waits for the message's end
    wire.client.send_ping(b"mid")
    wire.pump()
    assert wire.server_frames()[-1].opcode is Opcode.PING  # a control frame is never held
    wire.client.send_continuation(b'"params":{}}', fin=True)
    wire.client.send_text(b'{"method":"y","params":{}}')
    wire.pump()
    texts = [f.data for f in wire.server_frames() if f.opcode is Opcode.TEXT]
    assert texts == [b'{"method":"y","params":{}}']  # the fragmented x was dropped whole


def test_a_non_upgrade_exchange_passes_raw() -> None:
    from pytest_execserver.faults.protocol.core import ConnectionCore, FaultSet, Write

    core = ConnectionCore(1, FaultSet())
    request = b"GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n"
    response = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    assert core.receive(TO_SERVER, request) == [Write(TO_SERVER, request)]
    assert core.receive(TO_CLIENT, response) == [Write(TO_CLIENT, response)]
    assert core.raw
    assert core.receive(TO_CLIENT, b"\x81\x00") == [Write(TO_CLIENT, b"\x81\x00")]
