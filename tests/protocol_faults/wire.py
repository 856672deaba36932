"""An in-memory wire for the sans-I/O core: websockets' own client and server protocols on either side.

No sockets: bytes one protocol sends go through ``ConnectionCore.receive``; what the core writes is fed to
the other protocol, and every byte is kept so tests compare streams exactly.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from websockets.client import ClientProtocol
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory, ServerPerMessageDeflateFactory
from websockets.frames import Frame
from websockets.server import ServerProtocol
from websockets.uri import parse_uri

from pytest_execserver.faults.protocol.core import Action, ConnectionCore, FaultSet, Fire, Write
from pytest_execserver.faults.protocol.kinds import Fault
from pytest_execserver.faults.protocol.triggers import Direction

TO_SERVER, TO_CLIENT = Direction.TO_SERVER, Direction.TO_CLIENT


class Wire:
    """Client protocol <-> core <-> server protocol, with the bytes each side sent and received."""

    def __init__(
        self, faults: Iterable[Fault] = (), *, deflate: bool = False, client_deflate: dict[str, Any] | None = None,
        server_deflate: dict[str, Any] | None = None, fault_set: FaultSet | None = None,
    ) -> None:  # fmt: skip
        self.faults = fault_set if fault_set is not None else FaultSet(faults)
        self.core = ConnectionCore(1, self.faults, clock=lambda: 42)
        client_ext = [ClientPerMessageDeflateFactory(**(client_deflate or {}))] if deflate else None
        server_ext = [ServerPerMessageDeflateFactory(**(server_deflate or {}))] if deflate else None
        self.client = ClientProtocol(parse_uri("ws://127.0.0.1:9/"), extensions=client_ext)
        self.server = ServerProtocol(extensions=server_ext)
        self.sent = {TO_SERVER: bytearray(), TO_CLIENT: bytearray()}  # what each side put on the wire
        self.delivered = {TO_SERVER: bytearray(), TO_CLIENT: bytearray()}  # what the core passed on
        self.actions: list[Action] = []
        self.client.send_request(self.client.connect())
        self.pump()
        request = self.server.events_received()[0]
        self.server.send_response(self.server.accept(request))
        self.pump()
        self.client.events_received()

    @property
    def events(self) -> list[Any]:
        return [a.event for a in self.actions if isinstance(a, Fire)]

    def pump(self) -> None:
        """Move bytes both ways until neither side has anything to send."""
        moved = True
        while moved:
            moved = False
            for direction, sender in ((TO_SERVER, self.client), (TO_CLIENT, self.server)):
                for data in sender.data_to_send():
                    if data:
                        moved = True
                        self.sent[direction] += data
                        self.feed(direction, data)

    def feed(self, direction: Direction, data: bytes) -> None:
        self.perform(self.core.receive(direction, data))

    def perform(self, actions: list[Action]) -> None:
        for action in actions:
            if isinstance(action, Write):
                self.delivered[action.to] += action.data
                receiver = self.server if action.to is TO_SERVER else self.client
                receiver.receive_data(action.data)
            else:
                self.actions.append(action)

    def server_frames(self) -> list[Frame]:
        return [e for e in self.server.events_received() if isinstance(e, Frame)]

    def client_frames(self) -> list[Frame]:
        return [e for e in self.client.events_received() if isinstance(e, Frame)]
