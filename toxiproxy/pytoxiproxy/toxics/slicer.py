"""slicer: cut chunks into pieces of about ``average_size`` ± ``size_variation`` bytes, ``delay`` µs apart."""

from __future__ import annotations

import random
from typing import Any

from pytoxiproxy.toxics.base import Action, Close, Item, Pause, Send, Toxic, clamp_ms


class SlicerToxic(Toxic):
    type_name = "slicer"
    go_struct = "SlicerToxic"
    attribute_names = ("average_size", "size_variation", "delay")
    go_type = "int"

    def offsets(self, start: int, end: int, rng: random.Random) -> list[int]:
        """Cut points ``[s0, e0, s1, e1, ...]`` splitting [start, end) in about halves until small enough.

        Go's recursion, depth first, left before right (same random draws). Where Go would panic or
        recurse for ever (``average_size < 1``, ``size_variation >= average_size``) the cut is kept
        inside the piece and no piece is cut below one byte, so every configuration terminates; for
        the configurations Go handles the result is unchanged.
        """
        average, variation = self.values["average_size"], self.values["size_variation"]
        cuts: list[int] = []
        todo = [(start, end)]
        while todo:
            lo, hi = todo.pop()
            if (hi - lo) - average <= variation or hi - lo <= 1:
                cuts += [lo, hi]
                continue
            mid = lo + (hi - lo) // 2
            if variation > 0:
                mid += rng.randrange(variation * 2) - variation
            mid = min(max(mid, lo + 1), hi - 1)
            todo += [(mid, hi), (lo, mid)]
        return cuts

    def plan(self, item: Item, now: float, rng: random.Random, state: Any) -> list[Action]:
        if item is None:
            return [Close(now)]
        delay = clamp_ms(self.values["delay"]) / 1_000_000.0  # microseconds; negative: none, as in Go
        cuts = self.offsets(0, len(item.data), rng)
        pieces = [item.data[cuts[i - 1] : cuts[i]] for i in range(1, len(cuts), 2)]
        actions: list[Action] = [Send(piece, now + k * delay, item.ts) for k, piece in enumerate(pieces)]
        return [*actions, Pause(now + len(pieces) * delay)]  # Go sleeps after the last slice too
