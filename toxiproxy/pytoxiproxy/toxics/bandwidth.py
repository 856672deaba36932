"""bandwidth: limit throughput to ``rate`` KB/s (1 KB = 1000 bytes, as in Go)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from pytoxiproxy.toxics.base import Action, Close, Hold, Item, Send, Toxic


@dataclass
class _Clock:
    """When the line is free again (loop time)."""

    free_at: float = float("-inf")


class BandwidthToxic(Toxic):
    type_name = "bandwidth"
    go_struct = "BandwidthToxic"
    attribute_names = ("rate",)

    def new_state(self) -> _Clock:
        return _Clock()

    def plan(self, item: Item, now: float, rng: random.Random, state: Any) -> list[Action]:
        if item is None:
            return [Close(now)]
        rate = self.values["rate"]  # bytes per millisecond
        if rate <= 0:
            # Go loops for ever on rate 0 (no byte passes) and panics on a negative rate; we hold the data
            # until the toxic is updated or removed, when it is passed on (as Go does on interrupt).
            return [Hold(), Send(item.data, now, item.ts)]
        clock: _Clock = state
        clock.free_at = max(clock.free_at, now)
        size = rate * 100  # at most 100 ms worth at a time
        actions: list[Action] = []
        for start in range(0, len(item.data), size):
            piece = item.data[start : start + size]
            clock.free_at += len(piece) / rate / 1000.0
            actions.append(Send(piece, clock.free_at, item.ts))
        return actions
