"""latency: delay every chunk by latency ± jitter ms, counted from when it was received."""

from __future__ import annotations

import random
from typing import Any

from pytoxiproxy.toxics.base import Action, Close, Item, Send, Toxic, clamp_ms


class LatencyToxic(Toxic):
    type_name = "latency"
    go_struct = "LatencyToxic"
    attribute_names = ("latency", "jitter")

    def delay_ms(self, rng: random.Random) -> int:
        delay = self.values["latency"]
        jitter = self.values["jitter"]
        if jitter > 0:
            delay += rng.randrange(jitter * 2) - jitter
        # Negative: no delay, as in Go. Beyond int64 nanoseconds Go wraps (or panics drawing the
        # jitter); we hold the chunk for the longest Go duration instead.
        return clamp_ms(delay)

    def plan(self, item: Item, now: float, rng: random.Random, state: Any) -> list[Action]:
        if item is None:
            return [Close(now)]
        deadline = item.ts + self.delay_ms(rng) / 1000.0
        # The next latency toxic counts from this one's send time: stacked latencies add up.
        return [Send(item.data, deadline, deadline)]
