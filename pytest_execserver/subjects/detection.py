"""How long the client under test took to notice a silently dead connection (pure: no I/O).

Issue 20's liveness: every dead connection is noticed and reported, and the report shows each client's
detection time. For each fired ``blackhole`` or ``mute_pongs`` (the faults that kill a connection without
a FIN, an RST or a close frame), from the fault's history event (the proxy's ``time.monotonic_ns()``, the
journal's clock too):

- ``noticed_ms``: to the first websocket connection the server accepted after it (the client gave up on
  the dead one and dialled again); ``None`` when it never did within the test;
- ``answered_ms``: to the end of the run that was in flight (the client answered: output, an error, or the
  harness's stop of a hang); ``None`` when no run was in flight;
- ``answer``: ``ok``, the error's type, or ``hang``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from pytest_execserver.subjects.checks import SubjectRun

SILENT_KINDS = ("blackhole", "mute_pongs")


def detection_times(faults: Iterable[tuple[str, int]], records: Sequence[dict[str, Any]],
                    runs: Sequence[SubjectRun]) -> list[dict[str, Any]]:
    """One entry per fired silent fault: ``faults`` are (kind, fired at ns), ``records`` the journal's."""
    opens = sorted(int(r["t"]) for r in records if r.get("kind") == "conn_open" and "t" in r)
    out: list[dict[str, Any]] = []
    for kind, at in faults:
        if kind not in SILENT_KINDS:
            continue
        later = [t for t in opens if t > at]
        run = next((r for r in runs if r.begin_ns <= at <= r.end_ns), None)
        entry: dict[str, Any] = {
            "fault": kind,
            "noticed_ms": round((later[0] - at) / 1e6, 1) if later else None,
            "answered_ms": round((run.end_ns - at) / 1e6, 1) if run is not None else None,
            "answer": None if run is None else _answer(run),
        }
        out.append(entry)
    return out


def _answer(run: SubjectRun) -> str:
    if run.hang is not None or run.outcome is None:
        return "hang"
    if run.outcome.error is not None:
        return str(run.outcome.error.type)
    return "ok"
