"""slow_close: pass data through, but delay the close by ``delay`` ms."""

from __future__ import annotations

import asyncio

from pytoxiproxy.toxics.base import Stage, Toxic, clamp_ms


class SlowCloseToxic(Toxic):
    type_name = "slow_close"
    go_struct = "SlowCloseToxic"
    attribute_names = ("delay",)

    async def pipe(self, stage: Stage) -> None:
        while True:
            item = await stage.take()
            if item is None:
                await asyncio.sleep(clamp_ms(self.values["delay"]) / 1000.0)
                stage.close()
                return
            stage.forward(item)
