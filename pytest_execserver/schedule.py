"""Seeded fault schedules: which fault, when, for how long, drawn deterministically from a seed.

``draw_schedule(seed, ["latency", "disconnect"], duration_ms=2000)`` splits the window into equal slots and
puts one fault in each (kinds first cover every requested kind once, in a seeded order, then are drawn at
random), starting in the first half of its slot and ending before the slot does, so faults never
overlap. Kinds given as names get seeded parameters; :class:`~pytest_execserver.faults.Fault` objects are
used as given. Same seed, kinds and window give the same schedule, on any machine and Python version
(only :class:`random.Random` methods with documented reproducible output are used).
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pytest_execserver.faults import Fault, kind_or_fault
from pytest_execserver.options import new_seed

__all__ = ["ScheduledFault", "derive_seed", "draw_schedule", "format_schedule", "new_seed"]

DEFAULT_DURATION_MS = 2000
SLOT_MS = 400  # default slot width when no count is given


@dataclass(frozen=True)
class ScheduledFault:
    """``fault`` starts ``at_ms`` after the schedule starts and is removed ``duration_ms`` later."""

    at_ms: int
    fault: Fault
    duration_ms: int

    def describe(self) -> dict[str, Any]:
        return {"at_ms": self.at_ms, "duration_ms": self.duration_ms, "fault": self.fault.describe()}


def derive_seed(session_seed: int, key: str) -> int:
    """A per-test seed: stable for a (session seed, test id) pair, different between tests."""
    digest = hashlib.sha256(f"{session_seed}:{key}".encode()).digest()
    return int.from_bytes(digest[:4], "big")


def _draw_params(rng: random.Random, kind: str, at_ms: int, duration_ms: int) -> Fault:
    if kind == "latency":
        ms = rng.randint(5, 150)
        return Fault("latency", ms=ms, jitter=rng.randint(0, ms // 2), at_ms=at_ms, duration_ms=duration_ms)
    if kind == "bandwidth":
        return Fault("bandwidth", kbps=rng.choice([64, 128, 256, 512, 1024]), at_ms=at_ms,
                     duration_ms=duration_ms)
    if kind == "slicer":
        size = rng.randint(1, 128)
        return Fault("slicer", average_size=size, size_variation=rng.randint(0, size - 1),
                     delay_us=rng.choice([0, 100, 1000]), at_ms=at_ms, duration_ms=duration_ms)
    if kind == "disconnect":
        mode = rng.choice(["reset", "reset", "close"])
        return Fault("disconnect", after_ms=at_ms, mode=mode, hold_ms=min(duration_ms, 150))
    if kind == "down":
        return Fault("down", at_ms=at_ms, duration_ms=duration_ms)
    if kind == "receiver_lag":
        return Fault("receiver_lag", pause_ms=duration_ms, at_ms=at_ms)
    raise AssertionError(kind)  # pragma: no cover - kinds are validated first


def _place(fault: Fault, at_ms: int, duration_ms: int) -> Fault:
    """A given Fault moved to its slot (its own parameters kept)."""
    if fault.kind == "disconnect":
        if fault.params["after_bytes"] is not None:
            return fault
        return fault.replace(after_ms=at_ms)
    if fault.kind == "receiver_lag":
        return fault.replace(at_ms=at_ms)
    if fault.kind == "down":
        return fault.replace(at_ms=at_ms, duration_ms=min(fault.params["duration_ms"], duration_ms))
    return fault.replace(at_ms=at_ms, duration_ms=duration_ms)


def draw_schedule(
    seed: int,
    kinds: Sequence[str | Fault],
    *,
    duration_ms: int = DEFAULT_DURATION_MS,
    count: int | None = None,
) -> list[ScheduledFault]:
    """A deterministic, non-overlapping schedule of faults over ``duration_ms``."""
    entries = [kind_or_fault(k) for k in kinds]
    if not entries:
        return []
    if duration_ms <= 0:
        raise ValueError(f"schedule duration_ms must be > 0, got {duration_ms}")
    if count is None:
        count = max(len(entries), duration_ms // SLOT_MS)
    if count <= 0:
        raise ValueError(f"schedule count must be > 0, got {count}")
    rng = random.Random(seed)
    order = list(range(len(entries)))
    rng.shuffle(order)
    picks = [entries[i] for i in order][:count]
    picks += [entries[rng.randrange(len(entries))] for _ in range(count - len(picks))]
    slot = duration_ms / count
    schedule: list[ScheduledFault] = []
    for i, entry in enumerate(picks):
        start = int(i * slot)
        at_ms = start + rng.randrange(max(1, int(slot / 2)))
        length = max(1, int(slot / 4) + rng.randrange(max(1, int(slot / 4))))
        fault = _place(entry, at_ms, length) if isinstance(entry, Fault) else _draw_params(rng, entry, at_ms, length)
        schedule.append(ScheduledFault(at_ms, fault, length))
    return schedule


def format_schedule(schedule: Sequence[ScheduledFault]) -> str:
    """One line per fault: ``+120ms for 80ms: Fault('latency', ms=40, ...)``."""
    return "\n".join(f"+{s.at_ms}ms for {s.duration_ms}ms: {s.fault!r}" for s in schedule)
