"""timeout: swallow all data; close the connection after ``timeout`` ms without data (0 = never)."""

from __future__ import annotations

import asyncio

from pytoxiproxy.toxics.base import Stage, Toxic, clamp_ms


class TimeoutToxic(Toxic):
    type_name = "timeout"
    go_struct = "TimeoutToxic"
    attribute_names = ("timeout",)

    async def pipe(self, stage: Stage) -> None:
        timeout = clamp_ms(self.values["timeout"]) / 1000.0
        eof = False
        while True:
            try:
                if eof:
                    # Go spins on a closed input here; we just wait out the timeout.
                    if timeout <= 0:
                        await asyncio.Event().wait()
                    await asyncio.sleep(timeout)
                    raise TimeoutError
                if timeout > 0:
                    item = await asyncio.wait_for(stage.take(), timeout)
                else:
                    item = await stage.take()
            except TimeoutError:
                stage.close()
                return
            if item is None:
                stage.held_eof = False
                eof = True
            else:
                stage.held = None
                stage.drop(len(item.data))

    def cleanup(self, stage: Stage) -> bool:
        """Removing a timeout toxic closes the connection, as in Go."""
        stage.stop()
        stage.close()
        return True
