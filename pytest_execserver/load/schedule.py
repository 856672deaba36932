"""Arrival schedules, computed before the run starts (open loop, as in wrk2).

An open-loop schedule fixes when each operation *should* start; the runner starts it then whether or not
earlier operations have finished, and measures latency from that intended start. A server that stalls
therefore shows up as latency, instead of silently slowing the arrivals down (coordinated omission).
"""

from __future__ import annotations

import math
from dataclasses import dataclass


class LoadConfigError(ValueError):
    """A load run was asked for with parameters that make no sense (or that this machine cannot serve)."""


@dataclass(frozen=True)
class Arrival:
    """One operation: which client runs it, its index within that client, and its intended start (s)."""

    client: int
    index: int
    at_s: float | None  # None: closed loop (start as soon as the client's previous operation ended)


def operation_count(
    clients: int, processes_per_client: int | None, duration_s: float | None, rate: float | None
) -> int | None:
    """Operations per client; None means "until ``duration_s`` has passed" (closed loop only)."""
    if clients < 1:
        raise LoadConfigError(f"clients must be >= 1, not {clients}")
    if rate is not None and (not math.isfinite(rate) or rate <= 0):
        raise LoadConfigError(f"rate must be a positive number of operations per second, not {rate!r}")
    if duration_s is not None and (not math.isfinite(duration_s) or duration_s <= 0):
        raise LoadConfigError(f"duration_s must be positive, not {duration_s!r}")
    if processes_per_client is not None:
        if processes_per_client < 1:
            raise LoadConfigError(f"processes_per_client must be >= 1, not {processes_per_client}")
        return processes_per_client
    if duration_s is None:
        raise LoadConfigError("give processes_per_client or duration_s (or both)")
    if rate is None:
        return None
    return max(1, math.ceil(rate * duration_s / clients))


def arrival_schedule(clients: int, per_client: int, rate: float | None) -> list[list[Arrival]]:
    """Each client's arrivals. With ``rate`` (operations per second over all clients), operation k of the
    whole run is due at k / rate and goes to client k mod clients; without it every arrival is closed-loop."""
    schedule: list[list[Arrival]] = [[] for _ in range(clients)]
    for k in range(clients * per_client):
        client, index = k % clients, k // clients
        schedule[client].append(Arrival(client, index, None if rate is None else k / rate))
    return schedule
