"""reset_peer: on the first data (or end of stream), wait ``timeout`` ms, then close the stream.

The reset itself is SO_LINGER 0, set when a connection starts with this toxic in its chains (see
``Connection``): as in Go, one added to an open connection ends it with a plain close (FIN).
"""

from __future__ import annotations

import asyncio

from pytoxiproxy.toxics.base import Stage, Toxic, clamp_ms


class ResetPeerToxic(Toxic):
    type_name = "reset_peer"
    go_struct = "ResetToxic"
    attribute_names = ("timeout",)

    async def pipe(self, stage: Stage) -> None:
        await stage.take()
        timeout = clamp_ms(self.values["timeout"]) / 1000.0
        if timeout > 0:
            await asyncio.sleep(timeout)
        stage.close()
