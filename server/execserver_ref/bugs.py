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
    "orphan-descendants": (
        "process/terminate (and session disposal) SIGKILL only the started process, not its process group: a "
        "grandchild it double-forked outlives the terminate."
    ),
    # Weak servers for the security suite (docs/security.md): each drops one protection.
    "accept-any-token": "with --ws-auth (either mode), every upgrade is accepted whatever its Authorization header.",
    "ignore-origin": "an upgrade carrying an Origin header is accepted (no 403): open to cross-site hijacking.",
    "skip-exp-check": "signed-bearer-token: exp is required but never compared with the clock (expired JWTs pass).",
    "skip-aud-check": "signed-bearer-token: the aud claim is never compared with --ws-audience.",
    "accept-alg-none": "signed-bearer-token: an unsigned JWT (alg none) is accepted without a signature.",
    "no-frame-limit": "no websocket message size limit (codex and the reference refuse frames over 16 MiB).",
    "unbounded-outbound": (
        "a connection's outgoing queue has no bound (codex: 256 frames), so a client that never reads makes "
        "the server buffer a process's whole output."
    ),
    "leaky-token-compare": (
        "capability-token (--ws-token-file): the token is compared character by character, 2 ms per matching "
        "character: the time to reject says how much of a guess was right."
    ),
    "leak-fds": (
        "every connection and every process/start leaves an open file descriptor behind, forever (the resource "
        "budget's fd_growth and the security suite's many-connections case catch it)."
    ),
    "ignore-sandbox": "process/start's sandbox is not enforced: a sandboxed process may write anywhere it can.",
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
    orphan_descendants: bool = False
    accept_any_token: bool = False
    ignore_origin: bool = False
    skip_exp_check: bool = False
    skip_aud_check: bool = False
    accept_alg_none: bool = False
    no_frame_limit: bool = False
    ignore_sandbox: bool = False
    unbounded_outbound: bool = False
    leaky_token_compare: bool = False
    leak_fds: bool = False

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
