"""Triggers: which JSON-RPC message a fault fires on (pure, no I/O).

``on="METHOD"`` matches a request or a notification carrying that method; ``"METHOD:request"`` and
``"METHOD:notification"`` only that kind; ``"METHOD:response"`` the reply (result or error) to a request
of that method, matched by JSON-RPC id on the same connection. ``nth`` counts matches over the whole
proxy (every connection), so a fault fires once, on the nth matching message; ``process`` narrows it to
messages about one ``processId`` (a response is about the process its request named).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import Enum
from typing import Any, NamedTuple

KINDS = ("request", "response", "notification")


class Direction(Enum):
    """Which way a message travels through the proxy."""

    TO_SERVER = "to_server"
    TO_CLIENT = "to_client"

    @property
    def reverse(self) -> Direction:
        return Direction.TO_CLIENT if self is Direction.TO_SERVER else Direction.TO_SERVER


class MessageInfo(NamedTuple):
    """What the matcher knows about one websocket data message."""

    direction: Direction
    kind: str  # "request", "response", "notification" or "other" (not JSON, not JSON-RPC)
    method: str | None = None  # for a response: its request's method, when known
    id: Any = None
    process: str | None = None

    def summary(self) -> str:
        parts = [self.kind, self.method or "?"]
        if self.id is not None:
            parts.append(f"id={self.id}")
        if self.process is not None:
            parts.append(f"process={self.process}")
        return " ".join(parts)


@dataclass(frozen=True)
class Trigger:
    """A parsed ``on=`` spec with ``nth`` and ``process``; see the module docstring."""

    method: str
    kind: str | None = None
    nth: int = 1
    process: str | None = None
    # ``on="A|B"``: either message matches (``nth`` counts both), e.g. the output a client is pushed
    # (``process/output``) or polls for (``process/read:response``)
    alternatives: tuple[Trigger, ...] = ()

    @classmethod
    def parse(cls, on: str, nth: int = 1, process: str | None = None) -> Trigger:
        """``"METHOD"``, ``"METHOD:KIND"`` or alternatives ``"A|B"``; a clear ``ValueError`` for anything else."""
        if not isinstance(on, str) or not on:
            raise ValueError(f"on= must be 'METHOD' or 'METHOD:request|response|notification', not {on!r}")
        if "|" in on:
            alternatives = tuple(cls.parse(part, nth, process) for part in on.split("|"))
            first = alternatives[0]
            return cls(first.method, first.kind, nth, process, alternatives)
        method, sep, kind = on.rpartition(":")
        if not sep or kind not in KINDS:
            method, kind = on, ""
        if not method or any(c.isspace() for c in method):
            raise ValueError(f"on={on!r}: the method must be a non-empty name without spaces")
        if isinstance(nth, bool) or not isinstance(nth, int) or nth < 1:
            raise ValueError(f"nth must be an integer >= 1, not {nth!r}")
        if process is not None and not isinstance(process, str):
            raise ValueError(f"process= must be a processId string, not {process!r}")
        return cls(method, kind or None, nth, process)

    @property
    def spec(self) -> str:
        if self.alternatives:
            return "|".join(a.spec for a in self.alternatives)
        return f"{self.method}:{self.kind}" if self.kind else self.method

    def matches(self, info: MessageInfo) -> bool:
        if self.alternatives:
            return any(a.matches(info) for a in self.alternatives)
        if info.method != self.method:
            return False
        if self.kind is None:
            if info.kind not in ("request", "notification"):
                return False
        elif info.kind != self.kind:
            return False
        return self.process is None or info.process == self.process


class RpcTracker:
    """Classifies the messages of one connection; remembers requests so their responses can be named."""

    def __init__(self) -> None:
        # requests not answered yet, by the direction they travelled, then by id
        self._to_server: dict[str, tuple[str, str | None]] = {}
        self._to_client: dict[str, tuple[str, str | None]] = {}

    def awaits_reply(self, direction: Direction) -> bool:
        """Whether a message travelling ``direction`` could answer a request this tracker saw."""
        return bool(self._to_client if direction is Direction.TO_SERVER else self._to_server)

    def observe(self, direction: Direction, payload: bytes | str, *, text: bool = True) -> MessageInfo:
        if not text:
            return MessageInfo(direction, "other")
        try:
            obj = json.loads(payload.decode() if isinstance(payload, bytes) else payload)
        except ValueError:
            return MessageInfo(direction, "other")
        if not isinstance(obj, dict):
            return MessageInfo(direction, "other")
        method = obj.get("method")
        rid = obj.get("id")
        if isinstance(method, str):
            params = obj.get("params")
            pid = params.get("processId") if isinstance(params, dict) else None
            process = pid if isinstance(pid, str) else None
            if "id" not in obj:
                return MessageInfo(direction, "notification", method, None, process)
            (self._to_server if direction is Direction.TO_SERVER else self._to_client)[_key(rid)] = (method, process)
            return MessageInfo(direction, "request", method, rid, process)
        if "id" in obj and ("result" in obj or "error" in obj):
            requests = self._to_client if direction is Direction.TO_SERVER else self._to_server
            known = requests.pop(_key(rid), None)
            method_of, process = known if known is not None else (None, None)
            return MessageInfo(direction, "response", method_of, rid, process)
        return MessageInfo(direction, "other")


def _key(rid: Any) -> str:
    return repr(rid)  # 1 and "1" are different ids
