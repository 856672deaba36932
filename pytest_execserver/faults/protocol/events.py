"""What the proxy records: one :class:`FaultEvent` per fired fault (and one when a timed fault ends)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class FaultEvent:
    """A fault that fired as a message passed (``phase="fire"``), or a timed one that ended (``"end"``).

    ``t_ns`` is ``time.monotonic_ns()``; ``conn`` the proxy's connection number (1, 2, ...);
    ``direction`` "to_server" or "to_client"; ``message`` a summary of the matched message
    ("response process/start id=2 process=p1").
    """

    t_ns: int
    kind: str
    on: str
    nth: int
    conn: int
    direction: str
    message: str
    phase: str = "fire"
    params: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-able record (for the history and the timeline)."""
        return {
            "t_ns": self.t_ns, "kind": self.kind, "on": self.on, "nth": self.nth, "conn": self.conn,
            "direction": self.direction, "message": self.message, "phase": self.phase, "params": dict(self.params),
        }  # fmt: skip
