"""``process/start``'s ``sandbox``: enforce its write rules with bubblewrap, and classify a denial like codex.

codex 0.169.0 (observed, docs/protocol.md §4): any ``sandbox`` object makes ``sandboxType`` ``linuxSeccomp``;
``sandboxDenied`` is true when a sandboxed process exits non-zero and its output mentions one of
:data:`DENIAL_KEYWORDS` (case-insensitive), or it exits 159 (SIGSYS, a seccomp kill).

The reference enforces ``permissions.type: "managed"`` with ``file_system.type: "restricted"``: the whole
filesystem is read-only except the ``access: "write"`` entries (bubblewrap, nested inside the harness's
confinement, all capabilities dropped). Other permission types run unconfined but are classified the same
way (as codex does).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from typing import Any

from execserver_ref.params import parse_file_uri

DENIAL_KEYWORDS = (
    "operation not permitted",
    "permission denied",
    "read-only file system",
    "seccomp",
    "sandbox",
    "landlock",
    "failed to write file",
)
SIGSYS_EXIT = 128 + 31
OUTPUT_TAIL = 64 * 1024  # the output the classification looks at (the newest bytes)


@dataclass(frozen=True)
class SandboxPolicy:
    """What one sandboxed process may write; ``restricted`` false: nothing is enforced."""

    restricted: bool
    writable: tuple[str, ...] = ()


def parse_policy(sandbox: Any) -> SandboxPolicy | None:
    """The policy of a ``sandbox`` param (already shape-checked as a struct), or None without one."""
    if sandbox is None:
        return None
    permissions = sandbox.get("permissions") if isinstance(sandbox, dict) else None
    if not isinstance(permissions, dict) or permissions.get("type") != "managed":
        return SandboxPolicy(restricted=False)
    file_system = permissions.get("file_system")
    if not isinstance(file_system, dict) or file_system.get("type") != "restricted":
        return SandboxPolicy(restricted=False)
    writable: list[str] = []
    for entry in file_system.get("entries") or []:
        if not isinstance(entry, dict) or entry.get("access") != "write":
            continue
        path = entry.get("path")
        if isinstance(path, dict) and path.get("type") == "path" and isinstance(path.get("path"), str):
            writable.append(parse_file_uri(path["path"]))
    return SandboxPolicy(restricted=True, writable=tuple(writable))


def bwrap() -> str | None:
    return shutil.which("bwrap")


def wrap(policy: SandboxPolicy, executable: str, args: list[str], cwd: str) -> tuple[str, list[str]]:
    """The (executable, argv) that runs ``args`` under ``policy``; unchanged if nothing is enforced.

    (bubblewrap 0.8 has no ``--argv0``: a sandboxed program sees its resolved path as argv[0].)"""
    tool = bwrap()
    if not policy.restricted or tool is None:
        return executable, args
    binds: list[str] = []
    for path in policy.writable:
        binds += ["--bind-try", path, path]
    wrapped = [
        tool, "--ro-bind", "/", "/", "--dev-bind", "/dev", "/dev", *binds, "--cap-drop", "ALL",
        "--die-with-parent", "--chdir", cwd, "--", executable, *args[1:],
    ]  # fmt: skip
    return tool, wrapped


def sandbox_type(policy: SandboxPolicy | None) -> str:
    """``sandboxType`` of the start result: codex's ``linuxSeccomp`` for any sandbox the server can honour."""
    if policy is None or (policy.restricted and bwrap() is None):
        return "none"
    return "linuxSeccomp"


def is_likely_denied(exit_code: int, output: bytes) -> bool:
    """codex's classification of a sandboxed process's failure as a sandbox denial."""
    if exit_code == 0:
        return False
    if exit_code == SIGSYS_EXIT:
        return True
    text = output.decode("utf-8", "replace").lower()
    return any(keyword in text for keyword in DENIAL_KEYWORDS)


def may_write(policy: SandboxPolicy | None, path: str, *, follow_final: bool = True) -> bool:
    """Whether an ``fs/*`` write to ``path`` is inside the policy's writable roots.

    Symlinks and ``..`` are resolved first (``realpath``), so a link inside a writable root that points
    elsewhere does not make its target writable. codex refuses such a write with ``Read-only file
    system (os error 30)``. ``follow_final`` false (``fs/remove``): a symlink itself is removed, not its
    target, so only its directory is resolved. A path check, not a mount namespace: it is racy against a
    concurrent process that swaps a directory for a symlink, which the process sandbox (bubblewrap) is not."""
    if policy is None or not policy.restricted:
        return True
    if follow_final:
        target = os.path.realpath(path)
    else:
        parent, name = os.path.split(os.path.normpath(path))
        target = os.path.join(os.path.realpath(parent), name) if name not in ("", ".", "..") else os.path.realpath(path)
    for root in policy.writable:
        real_root = os.path.realpath(root)
        if target == real_root or target.startswith(real_root.rstrip("/") + "/"):
            return True
    return False
