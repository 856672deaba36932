"""Latency histograms (HdrHistogram), mergeable across processes through their standard encoded form.

A pytest-xdist worker (or another machine) encodes its histogram with :meth:`LatencyHistogram.encode`
(the compressed, base64 ``HISTFAA...`` form every HdrHistogram implementation reads); the controller
decodes and merges them with :meth:`LatencyHistogram.merge`. Values are microseconds.
"""

from __future__ import annotations

from collections.abc import Iterable

from hdrh.histogram import HdrHistogram

LOWEST_US = 1
HIGHEST_US = 3_600_000_000  # one hour
SIGNIFICANT_FIGURES = 3


class LatencyHistogram:
    """Latencies in microseconds, 3 significant figures, 1 us .. 1 h (larger values are clamped)."""

    def __init__(self, hdr: HdrHistogram | None = None) -> None:
        self._hdr = hdr if hdr is not None else HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_FIGURES)

    def record_s(self, seconds: float) -> None:
        """Record one latency given in seconds (negative values count as 1 us)."""
        self._hdr.record_value(min(HIGHEST_US, max(LOWEST_US, round(seconds * 1_000_000))))

    @property
    def count(self) -> int:
        return int(self._hdr.get_total_count())

    def percentile_ms(self, percentile: float) -> float:
        """The latency at ``percentile`` (0..100) in ms; 0.0 when empty."""
        if self.count == 0:
            return 0.0
        return float(self._hdr.get_value_at_percentile(percentile)) / 1000.0

    @property
    def max_ms(self) -> float:
        return float(self._hdr.get_max_value()) / 1000.0 if self.count else 0.0

    @property
    def mean_ms(self) -> float:
        return float(self._hdr.get_mean_value()) / 1000.0 if self.count else 0.0

    def add(self, other: LatencyHistogram) -> None:
        """Add ``other``'s counts into this histogram."""
        self._hdr.add(other._hdr)

    def encode(self) -> str:
        """The standard compressed base64 form (``HISTFAA...``)."""
        return bytes(self._hdr.encode()).decode("ascii")

    @classmethod
    def decode(cls, encoded: str | bytes) -> LatencyHistogram:
        raw = encoded.encode("ascii") if isinstance(encoded, str) else encoded
        try:
            decoded = HdrHistogram.decode(raw)
        except Exception as exc:  # the library raises assorted errors on garbage
            raise ValueError(f"not an encoded HdrHistogram: {raw[:40]!r}... ({exc})") from None
        merged = cls()
        merged._hdr.add(decoded)
        return merged

    @classmethod
    def merge(cls, parts: Iterable[LatencyHistogram | str | bytes]) -> LatencyHistogram:
        """One histogram holding every part's counts (parts may be encoded strings from other workers)."""
        merged = cls()
        for part in parts:
            merged.add(part if isinstance(part, LatencyHistogram) else cls.decode(part))
        return merged
