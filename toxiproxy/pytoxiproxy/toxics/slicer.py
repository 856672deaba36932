"""slicer: cut chunks into pieces of about ``average_size`` ± ``size_variation`` bytes, ``delay`` µs apart."""

from __future__ import annotations

import asyncio
import random

from pytoxiproxy.toxics.base import Chunk, Stage, Toxic


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

    async def pipe(self, stage: Stage) -> None:
        delay = self.values["delay"] / 1_000_000.0
        while True:
            chunk = await stage.take()
            if chunk is None:
                stage.close()
                return
            cuts = self.offsets(0, len(chunk.data), stage.rng)
            for i in range(1, len(cuts), 2):
                rest = chunk.data[cuts[i] :]
                stage.held = Chunk(rest, chunk.ts) if rest else None
                stage.out(Chunk(chunk.data[cuts[i - 1] : cuts[i]], chunk.ts))
                await asyncio.sleep(delay)  # Go sleeps after the last slice too
