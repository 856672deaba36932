"""What the server under test holds, read from ``/proc``: resident memory and open descriptors.

The server is the whole process tree under the launched command (bubblewrap, then the server and its
helpers), minus the workload a case started (named by ``comm``). ``parse_*`` are pure.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")


@dataclass(frozen=True)
class TreeUsage:
    rss_bytes: int
    open_fds: int
    pids: tuple[int, ...]


def parse_ppid(stat: str) -> int:
    """The parent pid from ``/proc/PID/stat`` (``comm`` may hold spaces and parentheses)."""
    return int(stat.rpartition(")")[2].split()[1])


def parse_rss_bytes(status: str) -> int:
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0  # a zombie or kernel thread has no VmRSS


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None


def descendants(root: int) -> list[int]:
    """``root`` and every live process below it."""
    children: dict[int, list[int]] = {}
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        stat = _read(entry / "stat")
        if stat is not None:
            children.setdefault(parse_ppid(stat), []).append(int(entry.name))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def tree_usage(root: int, exclude_comm: Iterable[str] = ()) -> TreeUsage:
    """Summed RSS and open fds of the tree under ``root``, without processes whose comm is excluded."""
    skip = set(exclude_comm)
    rss = fds = 0
    pids = []
    for pid in descendants(root):
        comm = read_comm(pid)
        if comm in skip:
            continue
        rss += parse_rss_bytes(_read(PROC / str(pid) / "status") or "")
        with contextlib.suppress(OSError):
            fds += len(os.listdir(PROC / str(pid) / "fd"))
        pids.append(pid)
    return TreeUsage(rss, fds, tuple(pids))


def read_comm(pid: int) -> str:
    return (_read(PROC / str(pid) / "comm") or "").strip()


def parse_wchar(io: str) -> int | None:
    for line in io.splitlines():
        if line.startswith("wchar:"):
            return int(line.split()[1])
    return None


def read_wchar(pid: int) -> int | None:
    """Bytes ``pid`` has written (``/proc/PID/io``); ``None`` if it is gone or unreadable."""
    text = _read(PROC / str(pid) / "io")
    return None if text is None else parse_wchar(text)
