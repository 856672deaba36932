"""What every toxic shares, without I/O: chunks, the plan actions, and the toxic definition.

A toxic is a sans-I/O core: ``plan(item, now, rng, state)`` says, for one input chunk (or the end of the
stream) arriving at loop time ``now``, what to send when, what to drop and when to close, drawing any
randomness from ``rng``. The asyncio stage (``pytoxiproxy.stage``) only carries the actions out.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

UPSTREAM = "upstream"
DOWNSTREAM = "downstream"
# Go encodes durations as int64 nanoseconds: a millisecond value above this overflows (Go then waits for a
# wrapped, arbitrary duration); we clamp to it instead, which is "for ever" in practice.
MAX_MS = (2**63 - 1) // 1_000_000


def clamp_ms(value: int) -> int:
    """A millisecond attribute as a duration Go could represent: negative -> 0, too large -> MAX_MS."""
    return min(max(value, 0), MAX_MS)


@dataclass
class Chunk:
    """Bytes read from one side, stamped with the loop time they arrived (Go's StreamChunk)."""

    data: bytes
    ts: float


Item = Chunk | None  # None marks the end of the stream


# -- plan actions (times are absolute loop times) -------------------------------------------------
@dataclass(frozen=True)
class Send:
    """Pass ``data`` on at ``at`` (at once if that is past), stamped ``ts`` for the next toxic."""

    data: bytes
    at: float
    ts: float


@dataclass(frozen=True)
class Drop:
    """Throw ``nbytes`` of the input away."""

    nbytes: int


@dataclass(frozen=True)
class Pause:
    """Take no further input before ``at``."""

    at: float


@dataclass(frozen=True)
class Close:
    """End the stream at ``at``: the destination is closed, later input discarded."""

    at: float


@dataclass(frozen=True)
class Hold:
    """Wait until the toxic is updated or removed; the sends after it are held (not lost) meanwhile."""


Action = Send | Drop | Pause | Close | Hold


class Toxic:
    """A toxic type: its integer attributes and its plan (the base plan passes everything through)."""

    type_name: ClassVar[str] = ""
    go_struct: ClassVar[str] = ""
    attribute_names: ClassVar[tuple[str, ...]] = ()
    go_type: ClassVar[str] = "int64"
    #: Removing the toxic from an open connection closes it (Go's ``Cleanup``, the timeout toxic).
    closes_on_removal: ClassVar[bool] = False
    #: ``new_state()`` survives an update of the toxic (Go's stub state); else it starts afresh.
    state_survives_update: ClassVar[bool] = False

    def __init__(self, values: dict[str, int] | None = None) -> None:
        self.values = {name: 0 for name in self.attribute_names}
        self.values.update(values or {})

    def attributes(self) -> dict[str, int]:
        return dict(self.values)

    def new_state(self) -> Any:
        """Per-connection state the plan keeps between chunks."""
        return None

    def idle_timeout(self) -> float | None:
        """Seconds without input after which the stream is closed, or None."""
        return None

    def plan(self, item: Item, now: float, rng: random.Random, state: Any) -> list[Action]:
        """What to do with one input chunk (``None``: the end of the stream)."""
        if item is None:
            return [Close(now)]
        return [Send(item.data, now, item.ts)]


@dataclass(eq=False)
class ToxicWrapper:
    """A named toxic as the API shows it (Go's ToxicWrapper)."""

    name: str
    type: str
    stream: str
    toxicity: float
    toxic: Toxic
    direction: str = DOWNSTREAM

    def to_json(self, float32_json: Callable[[float], float | int]) -> dict[str, Any]:
        return {
            "attributes": self.toxic.attributes(),
            "name": self.name,
            "type": self.type,
            "stream": self.stream,
            "toxicity": float32_json(self.toxicity),
        }
