"""Exponential backoff with jitter, bounded by a deadline (pure logic, no I/O)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class Backoff:
    """Delays ``initial_s * factor**n`` capped at ``max_s``, with +-``jitter`` relative noise."""

    initial_s: float = 0.02
    max_s: float = 0.5
    factor: float = 2.0
    jitter: float = 0.2
    rng: random.Random = field(default_factory=random.Random)
    attempt: int = 0

    def next_delay(self, remaining_s: float | None = None) -> float:
        """The next delay (never negative, never beyond ``remaining_s`` when given)."""
        base = min(self.max_s, self.initial_s * (self.factor**self.attempt))
        self.attempt += 1
        noise = 1.0 + self.jitter * (2.0 * self.rng.random() - 1.0)
        delay = max(0.0, min(self.max_s, base * noise))
        if remaining_s is not None:
            delay = max(0.0, min(delay, remaining_s))
        return delay

    def reset(self) -> None:
        self.attempt = 0
