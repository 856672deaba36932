"""timeout: swallow all data; close the connection after ``timeout`` ms without data (0 = never)."""

from __future__ import annotations

import random
from typing import Any

from pytoxiproxy.toxics.base import Action, Close, Drop, Hold, Item, Toxic, clamp_ms


class TimeoutToxic(Toxic):
    type_name = "timeout"
    go_struct = "TimeoutToxic"
    attribute_names = ("timeout",)
    closes_on_removal = True  # Go's Cleanup closes the stub

    def _seconds(self) -> float:
        return clamp_ms(self.values["timeout"]) / 1000.0  # negative behaves like 0, as in Go

    def idle_timeout(self) -> float | None:
        return self._seconds() or None

    def plan(self, item: Item, now: float, rng: random.Random, state: Any) -> list[Action]:
        if item is not None:
            return [Drop(len(item.data))]
        # Go spins on a closed input here; we just wait out the timeout (for ever for 0).
        return [Close(now + self._seconds())] if self._seconds() else [Hold()]
