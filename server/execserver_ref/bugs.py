"""Deliberate protocol bugs (``--inject-bug KIND``) so the harness can prove its invariant checks fire.

Each kind changes only what it names (see docs/protocol.md §10 and ``execserver-ref --help``).
"""

from __future__ import annotations

from dataclasses import dataclass

BUG_HELP: dict[str, str] = {
    "drop-chunk": (
        "the 2nd output chunk of every process is lost for good: no process/output notification, not "
        "retained for process/read; its seq is consumed (seq hole). Processes with <2 chunks are unaffected."
    ),
    "duplicate-chunk": (
        "the 1st process/output notification of every process is sent twice (same seq and bytes); "
        "retention holds it once."
    ),
    "reorder": (
        "the 1st and 2nd process/output notifications of every process are sent swapped (seq 2 before "
        "seq 1); retained order is unchanged. If a process has only one chunk it is sent normally."
    ),
    "lose-closed": "process/closed is never sent; process/read still reports closed: true.",
    "lose-first-chunk-after-resume": (
        "after every session resume, the first output chunk any process of that session produces is lost for "
        "good: no process/output notification, not retained for process/read; its seq is consumed (seq hole). "
        "Chunks produced while detached are unaffected."
    ),
    "stall-exit": (
        "process/exited and process/closed are never sent and process/read reports exited: false, "
        "closed: false, exitCode: null forever."
    ),
    # --- resource bugs (issue 23: pytest_execserver/load/resources.py must catch them) ---
    "leak-fds": "every process/start opens one file descriptor (/dev/null) in the server and never closes it.",
    "orphan-descendants": (
        "process/terminate (and session disposal) SIGKILL only the started process, not its process group: a "
        "grandchild it double-forked outlives the terminate."
    ),
}

KINDS = tuple(BUG_HELP)


@dataclass(frozen=True)
class Bugs:
    drop_chunk: bool = False
    duplicate_chunk: bool = False
    reorder: bool = False
    lose_closed: bool = False
    lose_first_chunk_after_resume: bool = False
    stall_exit: bool = False
    # resource bugs (issue 23)
    leak_fds: bool = False
    orphan_descendants: bool = False

    @classmethod
    def from_kinds(cls, kinds: list[str] | tuple[str, ...]) -> Bugs:
        unknown = [k for k in kinds if k not in BUG_HELP]
        if unknown:
            raise ValueError(f"unknown bug kind(s): {', '.join(unknown)}; known: {', '.join(KINDS)}")
        return cls(**{k.replace("-", "_"): True for k in kinds})

    @property
    def any(self) -> bool:
        return (
            self.drop_chunk
            or self.duplicate_chunk
            or self.reorder
            or self.lose_closed
            or self.lose_first_chunk_after_resume
            or self.stall_exit
            or self.leak_fds
            or self.orphan_descendants
        )


NO_BUGS = Bugs()
