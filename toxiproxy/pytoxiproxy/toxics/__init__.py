"""The toxic registry: type name to toxic class."""

from __future__ import annotations

from pytoxiproxy.toxics.bandwidth import BandwidthToxic
from pytoxiproxy.toxics.base import DOWNSTREAM, UPSTREAM, Chunk, Toxic, ToxicWrapper
from pytoxiproxy.toxics.latency import LatencyToxic
from pytoxiproxy.toxics.limit_data import LimitDataToxic
from pytoxiproxy.toxics.noop import NoopToxic
from pytoxiproxy.toxics.reset_peer import ResetPeerToxic
from pytoxiproxy.toxics.slicer import SlicerToxic
from pytoxiproxy.toxics.slow_close import SlowCloseToxic
from pytoxiproxy.toxics.timeout import TimeoutToxic

REGISTRY: dict[str, type[Toxic]] = {
    cls.type_name: cls
    for cls in (
        NoopToxic,
        LatencyToxic,
        BandwidthToxic,
        SlowCloseToxic,
        TimeoutToxic,
        ResetPeerToxic,
        SlicerToxic,
        LimitDataToxic,
    )
}

__all__ = ["DOWNSTREAM", "REGISTRY", "UPSTREAM", "Chunk", "Toxic", "ToxicWrapper"]
