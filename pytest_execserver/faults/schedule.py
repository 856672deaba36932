"""Seeded fault schedules (``@fault_schedule``): which fault, when, for how long, drawn from a seed.

``draw_schedule(seed, ["latency", "disconnect"], duration_ms=2000)`` splits the window into equal slots and
puts one fault in each (kinds first cover every requested kind once, in a seeded order, then are drawn at
random), starting in the first half of its slot and ending before the slot does, so drawn faults never
overlap. Kinds given as names get seeded parameters (each kind's ``draw``, see
:mod:`pytest_execserver.faults.kinds`); :class:`~pytest_execserver.faults.kinds.Fault` objects keep their parameters
and are moved into a slot -- unless they were given ``at_ms``: such a *timed* fault runs at its own time
and takes no slot, so a printed schedule (:func:`format_schedule`) pasted back replays exactly. Same seed,
entries and window give the same schedule, on any machine and Python version (only :class:`random.Random`
methods with documented reproducible output are used).
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pytest_execserver.faults.kinds import KINDS, Fault, kind_or_fault

__all__ = ["ScheduledFault", "as_timed", "derive_seed", "draw_schedule", "format_schedule"]

DEFAULT_DURATION_MS = 2000
SLOT_MS = 400  # default slot width when no count is given


@dataclass(frozen=True)
class ScheduledFault:
    """``fault`` starts ``at_ms`` after the schedule starts and is removed ``duration_ms`` later (None: never)."""

    at_ms: float
    fault: Fault
    duration_ms: float | None

    def describe(self) -> dict[str, Any]:
        return {"at_ms": self.at_ms, "duration_ms": self.duration_ms, "fault": self.fault.describe()}


def derive_seed(session_seed: int, key: str) -> int:
    """A per-test seed: stable for a (session seed, test id) pair, different between tests."""
    digest = hashlib.sha256(f"{session_seed}:{key}".encode()).digest()
    return int.from_bytes(digest[:4], "big")


def draw_schedule(
    seed: int,
    kinds: Sequence[str | Fault],
    *,
    duration_ms: int = DEFAULT_DURATION_MS,
    count: int | None = None,
) -> list[ScheduledFault]:
    """A deterministic schedule over ``duration_ms``: timed faults as given, the rest in seeded slots."""
    entries = [kind_or_fault(k) for k in kinds]
    timed = [ScheduledFault(e.at_ms, e, e.duration_ms) for e in entries if isinstance(e, Fault) and e.timed]
    drawn = [e for e in entries if not (isinstance(e, Fault) and e.timed)]
    if duration_ms <= 0:
        raise ValueError(f"schedule duration_ms must be > 0, got {duration_ms}")
    if count is not None and count <= 0:
        raise ValueError(f"schedule count must be > 0, got {count}")
    schedule: list[ScheduledFault] = []
    if drawn:
        if count is None:
            count = max(len(drawn), duration_ms // SLOT_MS)
        rng = random.Random(seed)
        order = list(range(len(drawn)))
        rng.shuffle(order)
        picks = [drawn[i] for i in order][:count]
        picks += [drawn[rng.randrange(len(drawn))] for _ in range(count - len(picks))]
        slot = duration_ms / count
        for i, entry in enumerate(picks):
            start = int(i * slot)
            at_ms = start + rng.randrange(max(1, int(slot / 2)))
            length = max(1, int(slot / 4) + rng.randrange(max(1, int(slot / 4))))
            if isinstance(entry, Fault):
                fault = entry.spec.place(entry, at_ms, length)
            else:
                fault = KINDS[entry].draw(rng, at_ms, length)
            schedule.append(ScheduledFault(at_ms, fault, fault.duration_ms))
    return sorted([*schedule, *timed], key=lambda s: s.at_ms)


def as_timed(item: ScheduledFault) -> Fault:
    """The scheduled fault with its time (and duration) written into it: pasteable, replays as is."""
    fault = item.fault
    params: dict[str, object] = {"at_ms": item.at_ms}
    if "duration_ms" in fault.spec.params and item.duration_ms is not None:
        params["duration_ms"] = item.duration_ms
    return fault.replace(**params)


def format_schedule(schedule: Sequence[ScheduledFault]) -> str:
    """One pasteable ``Fault(...)`` per line, each with its time: ``@fault_schedule(<these>)`` replays it."""
    return "\n".join(f"    {as_timed(s)!r},  # +{s.at_ms:g}ms" for s in schedule)
