"""The harness's own file-descriptor budget: raise the soft limit, or fail early with a clear error."""

from __future__ import annotations

import resource

from pytest_execserver.load.schedule import LoadConfigError

FDS_PER_CLIENT = 4  # its socket, plus headroom for reconnects (old socket not yet closed) and DNS/loop fds
FDS_RESERVED = 256  # pytest, the server's pipes if started here, logs, the event loop


def fds_needed(clients: int) -> int:
    return clients * FDS_PER_CLIENT + FDS_RESERVED


def ensure_fd_capacity(clients: int) -> int:
    """Make sure this process may open enough fds for ``clients`` connections; returns the soft limit.

    Raises the soft ``RLIMIT_NOFILE`` up to the hard limit when needed; raises :class:`LoadConfigError`
    (with the ``ulimit -n`` to use) when even the hard limit is too low.
    """
    needed = fds_needed(clients)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(hard, needed)
        if target > soft:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
    if soft != resource.RLIM_INFINITY and soft < needed:
        raise LoadConfigError(
            f"{clients} clients need about {needed} open files but this process may open only {soft} "
            f"(hard limit {hard}); raise it, e.g. `ulimit -n {needed}`, or run fewer clients per process "
            f"(spread them over pytest-xdist workers)"
        )
    return int(soft)
