"""latency: delay every chunk by latency ± jitter ms, counted from when it was received."""

from __future__ import annotations

import asyncio

from pytoxiproxy.toxics.base import Stage, Toxic, clamp_ms


class LatencyToxic(Toxic):
    type_name = "latency"
    go_struct = "LatencyToxic"
    attribute_names = ("latency", "jitter")

    def delay_ms(self, stage: Stage) -> int:
        delay = self.values["latency"]
        jitter = self.values["jitter"]
        if jitter > 0:
            delay += stage.rng.randrange(jitter * 2) - jitter
        # Negative: no delay, as in Go. Beyond int64 nanoseconds Go wraps (or panics drawing the
        # jitter); we hold the chunk for the longest Go duration instead.
        return clamp_ms(delay)

    async def pipe(self, stage: Stage) -> None:
        loop = asyncio.get_running_loop()
        while True:
            chunk = await stage.take()
            if chunk is None:
                stage.close()
                return
            deadline = chunk.ts + self.delay_ms(stage) / 1000.0
            wait = deadline - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            # The next latency toxic counts from this one's send time: latencies add up.
            chunk.ts = max(deadline, chunk.ts)
            stage.forward(chunk)
