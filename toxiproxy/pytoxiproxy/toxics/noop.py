"""noop: passes data through unchanged."""

from __future__ import annotations

from pytoxiproxy.toxics.base import Toxic


class NoopToxic(Toxic):
    type_name = "noop"
    go_struct = "NoopToxic"
