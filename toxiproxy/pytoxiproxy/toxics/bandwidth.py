"""bandwidth: limit throughput to ``rate`` KB/s (1 KB = 1000 bytes, as in Go)."""

from __future__ import annotations

import asyncio

from pytoxiproxy.toxics.base import Chunk, Stage, Toxic


class BandwidthToxic(Toxic):
    type_name = "bandwidth"
    go_struct = "BandwidthToxic"
    attribute_names = ("rate",)

    async def pipe(self, stage: Stage) -> None:
        loop = asyncio.get_running_loop()
        rate = self.values["rate"]  # bytes per millisecond
        if rate <= 0:
            # Go loops for ever on rate 0 (no byte passes) and panics on a negative rate; we hold the data
            # until the toxic is updated or removed, when it is passed on (as Go does on interrupt).
            await stage.take()
            await asyncio.Event().wait()
        slice_size = rate * 100  # send at most 100 ms worth at a time
        next_send = loop.time()
        while True:
            chunk = await stage.take()
            if chunk is None:
                stage.close()
                return
            next_send = max(next_send, loop.time())
            data = chunk.data
            while data:
                piece, data = data[:slice_size], data[slice_size:]
                next_send += len(piece) / rate / 1000.0
                wait = next_send - loop.time()
                if wait > 0:
                    stage.held = Chunk(piece + data, chunk.ts)
                    await asyncio.sleep(wait)
                stage.held = None
                stage.out(Chunk(piece, chunk.ts))
                if data:
                    stage.held = Chunk(data, chunk.ts)
