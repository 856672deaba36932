"""limit_data: pass ``bytes`` bytes per connection, then close."""

from __future__ import annotations

from dataclasses import dataclass

from pytoxiproxy.toxics.base import Chunk, Stage, Toxic


@dataclass
class _Sent:
    count: int = 0


class LimitDataToxic(Toxic):
    type_name = "limit_data"
    go_struct = "LimitDataToxic"
    attribute_names = ("bytes",)

    def new_state(self) -> _Sent:
        return _Sent()

    async def pipe(self, stage: Stage) -> None:
        sent: _Sent = stage.state
        limit = self.values["bytes"]
        while True:
            chunk = await stage.take()
            if chunk is None:
                stage.close()
                return
            remaining = max(limit - sent.count, 0)
            if remaining < len(chunk.data):
                stage.held = None
                stage.drop(len(chunk.data) - remaining)
                chunk = Chunk(chunk.data[:remaining], chunk.ts)
            if chunk.data:
                sent.count += len(chunk.data)
                stage.forward(chunk)
            else:
                stage.held = None
            if limit - sent.count <= 0:
                stage.close()
                return
