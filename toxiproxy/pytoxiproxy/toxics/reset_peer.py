"""reset_peer: on the first data (or end of stream), wait ``timeout`` ms then reset both sides (RST)."""

from __future__ import annotations

import asyncio

from pytoxiproxy.toxics.base import Stage, Toxic


class ResetPeerToxic(Toxic):
    type_name = "reset_peer"
    go_struct = "ResetToxic"
    attribute_names = ("timeout",)

    async def pipe(self, stage: Stage) -> None:
        await stage.take()
        timeout = self.values["timeout"] / 1000.0
        if timeout > 0:
            await asyncio.sleep(timeout)
        stage.reset()
