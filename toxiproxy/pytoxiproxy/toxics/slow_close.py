"""slow_close: pass data through, but delay the close by ``delay`` ms."""

from __future__ import annotations

import random
from typing import Any

from pytoxiproxy.toxics.base import Action, Close, Item, Send, Toxic, clamp_ms


class SlowCloseToxic(Toxic):
    type_name = "slow_close"
    go_struct = "SlowCloseToxic"
    attribute_names = ("delay",)

    def plan(self, item: Item, now: float, rng: random.Random, state: Any) -> list[Action]:
        if item is None:
            return [Close(now + clamp_ms(self.values["delay"]) / 1000.0)]
        return [Send(item.data, now, item.ts)]
