"""reset_peer: on the first data (or end of stream), wait ``timeout`` ms, then close the stream.

The reset itself is SO_LINGER 0, set when a connection starts with this toxic in its chains (see
``Connection``): as in Go, one added to an open connection ends it with a plain close (FIN).
"""

from __future__ import annotations

import random
from typing import Any

from pytoxiproxy.toxics.base import Action, Close, Drop, Item, Toxic, clamp_ms


class ResetPeerToxic(Toxic):
    type_name = "reset_peer"
    go_struct = "ResetToxic"
    attribute_names = ("timeout",)

    def plan(self, item: Item, now: float, rng: random.Random, state: Any) -> list[Action]:
        dropped: list[Action] = [Drop(len(item.data))] if item is not None else []
        return [*dropped, Close(now + clamp_ms(self.values["timeout"]) / 1000.0)]
