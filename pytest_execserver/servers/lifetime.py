"""Children die with the harness: a server, proxy or client we start gets SIGKILL when pytest itself dies.

Teardown stops every process we start, but a pytest that is killed (a CI job's timeout, SIGTERM, SIGKILL)
runs no teardown; without this its children live on as orphans holding ports and CPU. The kernel's
parent-death signal (``prctl(PR_SET_PDEATHSIG)``) covers that case. It fires when the *thread* that started
the child exits, so children are started from the thread that runs the tests.
"""

from __future__ import annotations

import ctypes
import os
import signal
from collections.abc import Callable

_PR_SET_PDEATHSIG = 1
try:  # resolved here, not in the child: a forked child of a threaded parent must not dlopen
    _prctl: Callable[..., int] | None = ctypes.CDLL(None, use_errno=True).prctl
except (OSError, AttributeError):  # pragma: no cover - not Linux
    _prctl = None


def die_with_parent() -> None:
    """``preexec_fn``: ask for SIGKILL when the parent goes away (and exit now if it already has)."""
    if _prctl is None:  # pragma: no cover - not Linux
        return
    parent = os.getppid()
    _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died between fork and prctl
        os._exit(1)


def then_die_with_parent(first: Callable[[], None] | None) -> Callable[[], None]:
    """``first`` (e.g. a privilege drop, which would clear the setting), then :func:`die_with_parent`."""
    if first is None:
        return die_with_parent

    def both() -> None:
        first()
        die_with_parent()

    return both
