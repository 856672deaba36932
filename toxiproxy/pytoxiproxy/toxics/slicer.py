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

    def validate(self) -> str | None:
        reason = super().validate()
        if reason:
            return reason
        if self.values["average_size"] < 1:
            return "average_size must be positive"
        if self.values["size_variation"] >= self.values["average_size"]:
            return "size_variation must be less than average_size"
        return None

    def offsets(self, start: int, end: int, rng: random.Random) -> list[int]:
        """Cut points splitting [start, end) roughly in halves until pieces are small enough."""
        average, variation = self.values["average_size"], self.values["size_variation"]
        if (end - start) - average <= variation:
            return [start, end]
        mid = start + (end - start) // 2
        if variation > 0:
            mid += rng.randrange(variation * 2) - variation
        return self.offsets(start, mid, rng) + self.offsets(mid, end, rng)

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
