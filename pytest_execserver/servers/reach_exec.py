"""Run a command as an unprivileged user in a private mount namespace where what it needs is reachable.

``python -I -S reach_exec.py PLAN_JSON -- ARGV...``, started as root (by :func:`..confine.confine`). Standard
library only and run by path, so it needs nothing the server's user cannot reach. Steps, all inside a new
mount namespace that only this process and the server it becomes ever see:

1. open each needed tree (``O_PATH``), so it stays reachable once its blocked ancestor is covered;
2. cover each blocked folder with a tmpfs of mode 0755 and bind each tree back at its own path (read-only,
   the scratch directory writable), then make the tmpfs read-only;
3. drop to the user (no supplementary groups), re-arm the parent-death signal (the drop clears it),
   and ``exec`` the command.

Any failure is one line on stderr and exit status 126; nothing is changed on the host.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import sys

CLONE_NEWNS = 0x00020000
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
PR_SET_PDEATHSIG = 1
EXIT_SETUP_FAILED = 126


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def _mount(libc: ctypes.CDLL, source: str | None, target: str, fstype: str | None, flags: int,
           data: str | None = None) -> None:
    enc = [None if s is None else s.encode() for s in (source, target, fstype, data)]
    _check(libc.mount(enc[0], enc[1], enc[2], ctypes.c_ulong(flags), enc[3]), f"mount {target}")


def setup(plan: dict[str, object]) -> None:
    """Steps 1 and 2 (the namespace and the covers); the caller is root."""
    libc = _libc()
    _check(libc.unshare(CLONE_NEWNS), "unshare(CLONE_NEWNS)")
    _mount(libc, None, "/", None, MS_REC | MS_PRIVATE)  # nothing we mount leaks back to the host
    writable = set(plan["writable"])  # type: ignore[call-overload]
    for cover in plan["covers"]:  # type: ignore[attr-defined]
        blocked, trees = cover["blocked"], cover["trees"]
        handles = {tree: os.open(tree, os.O_PATH | os.O_DIRECTORY) for tree in trees}
        _mount(libc, "tmpfs", blocked, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755")
        for tree, fd in handles.items():
            os.makedirs(tree, mode=0o755, exist_ok=True)
            _mount(libc, f"/proc/self/fd/{fd}", tree, None, MS_BIND | MS_REC)
            if tree not in writable:
                _mount(libc, None, tree, None, MS_REMOUNT | MS_BIND | MS_RDONLY)
            os.close(fd)
        _mount(libc, None, blocked, None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, "mode=0755")


def drop_and_exec(plan: dict[str, object], argv: list[str]) -> None:
    """Step 3: become the user and run ``argv`` (never returns)."""
    parent = int(plan["parent"])  # type: ignore[call-overload]
    os.chdir(str(plan["cwd"]))
    os.setgroups([])
    os.setgid(int(plan["gid"]))  # type: ignore[call-overload]
    os.setuid(int(plan["uid"]))  # type: ignore[call-overload]
    _libc().prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:
        os._exit(1)
    os.execvp(argv[0], argv)


def main(args: list[str]) -> int:
    if len(args) < 3 or args[1] != "--":
        print("usage: reach_exec.py PLAN_JSON -- ARGV...", file=sys.stderr)
        return 2
    plan = json.loads(args[0])
    try:
        setup(plan)
        drop_and_exec(plan, args[2:])
    except OSError as exc:
        print(f"pytest-execserver confinement: {exc}", file=sys.stderr)
        return EXIT_SETUP_FAILED
    return EXIT_SETUP_FAILED  # pragma: no cover - exec does not return


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
