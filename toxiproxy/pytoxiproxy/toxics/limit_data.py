"""limit_data: pass ``bytes`` bytes per connection, then close."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from pytoxiproxy.toxics.base import Action, Close, Drop, Item, Send, Toxic


@dataclass
class _Sent:
    count: int = 0


class LimitDataToxic(Toxic):
    type_name = "limit_data"
    go_struct = "LimitDataToxic"
    attribute_names = ("bytes",)
    state_survives_update = True  # the count is per connection, as Go's stub state

    def new_state(self) -> _Sent:
        return _Sent()

    def plan(self, item: Item, now: float, rng: random.Random, state: Any) -> list[Action]:
        if item is None:
            return [Close(now)]
        sent: _Sent = state
        limit = self.values["bytes"]
        allowed = item.data[: max(limit - sent.count, 0)]
        actions: list[Action] = []
        if allowed:
            sent.count += len(allowed)
            actions.append(Send(allowed, now, item.ts))
        if len(allowed) < len(item.data):
            actions.append(Drop(len(item.data) - len(allowed)))
        if limit - sent.count <= 0:
            actions.append(Close(now))
        return actions
