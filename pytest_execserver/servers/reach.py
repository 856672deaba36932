"""Can the unprivileged user reach what a server needs? If not, which folders to cover to make it so.

As root without bubblewrap a server runs as ``nobody``. ``nobody`` must be able to pass every folder
above the interpreter, the virtualenv, the packages and the scratch directory; a pyenv under ``/root``
(mode 0700), a ``mktemp -d`` folder or pytest's ``/tmp/pytest-of-root`` all stop it with a bare
``Permission denied``. :func:`plan` says which *blocked* folders stand in the way (pure: the file system is
seen through a ``stat`` function, so the rules are unit-tested without touching it).

The fix, applied by :mod:`.reach_exec` in the server's own private mount namespace: each blocked folder is
covered by a tmpfs (mode 0755) that holds only the needed trees, bound back at the same paths (read-only,
the scratch directory writable). The host is untouched and the server still sees nothing else under it.
"""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

StatFn = Callable[[Path], os.stat_result]


@dataclass(frozen=True)
class User:
    """Who the server runs as (no supplementary groups: the privilege drop clears them)."""

    uid: int
    gid: int


@dataclass(frozen=True)
class Cover:
    """A folder ``user`` cannot pass, to be covered with a tmpfs holding only ``trees`` (bound back)."""

    blocked: Path
    trees: tuple[Path, ...]


@dataclass(frozen=True)
class Plan:
    """The covers to make, the trees bound back writable, and the needed trees that stay unreachable."""

    covers: tuple[Cover, ...]
    writable: tuple[Path, ...]
    unreachable: tuple[str, ...]  # one line each: the tree, and why no cover can fix it


def _allows(st: os.stat_result, user: User, bits: int) -> bool:
    """Whether ``user`` has all of ``bits`` (``r``=4, ``x``=1) on a file with status ``st``."""
    if user.uid == 0:
        return True
    if st.st_uid == user.uid:
        shift = 6
    elif st.st_gid == user.gid:
        shift = 3
    else:
        shift = 0
    return (st.st_mode >> shift) & bits == bits


def can_pass(st: os.stat_result, user: User) -> bool:
    """A folder ``user`` may pass through (the x bit that applies to them)."""
    return stat.S_ISDIR(st.st_mode) and _allows(st, user, 1)


def can_use_tree(st: os.stat_result, user: User) -> bool:
    """A tree's top ``user`` may list and pass (Python's import system lists package folders)."""
    return stat.S_ISDIR(st.st_mode) and _allows(st, user, 4 | 1)


def highest_blocked(tree: Path, user: User, stat_fn: StatFn) -> Path | None:
    """The highest ancestor of ``tree`` (the tree itself excluded) that ``user`` cannot pass, or None."""
    for ancestor in reversed(tree.parents):  # "/" first
        if not can_pass(stat_fn(ancestor), user):
            return ancestor
    return None


def plan(readable: Iterable[Path], writable: Iterable[Path], user: User, stat_fn: StatFn = os.stat) -> Plan:
    """What stops ``user`` from reaching the ``readable`` and ``writable`` trees (absolute, resolved), and
    the covers that fix it. A tree whose own top ``user`` cannot use is reported in ``unreachable``: binding
    it back would not change its mode."""
    wanted = _outermost([*readable, *writable])
    writable_set = {p for p in writable if p in wanted}
    covers: dict[Path, list[Path]] = {}
    unreachable: list[str] = []
    for tree in wanted:
        try:
            top = stat_fn(tree)
        except OSError as exc:
            unreachable.append(f"{tree}: {exc.strerror or exc}")
            continue
        if not can_use_tree(top, user) and not (tree in writable_set and top.st_uid == user.uid):
            unreachable.append(f"{tree}: mode {stat.filemode(top.st_mode)}, owner uid {top.st_uid}")
            continue
        blocked = highest_blocked(tree, user, stat_fn)
        if blocked is not None:
            covers.setdefault(blocked, []).append(tree)
    return Plan(
        tuple(Cover(blocked, tuple(trees)) for blocked, trees in sorted(covers.items())),
        tuple(sorted(writable_set)),
        tuple(unreachable),
    )


def _outermost(paths: Iterable[Path]) -> list[Path]:
    """The paths, without any that lies inside another (the outer one is bound back whole)."""
    unique = sorted(set(paths), key=lambda p: len(p.parts))
    kept: list[Path] = []
    for path in unique:
        if not any(path == k or k in path.parents for k in kept):
            kept.append(path)
    return sorted(kept)


def server_trees(argv: list[str]) -> list[Path]:
    """The trees a server started with ``argv`` reads: Python's prefixes, our two packages, its program's folder."""
    here = Path(__file__).resolve()
    trees = {Path(sys.base_prefix), Path(sys.prefix), Path(sys.exec_prefix), here.parents[2]}
    ref = _package_root("execserver_ref")
    if ref is not None:
        trees.add(ref)
    if argv:
        program = Path(argv[0]) if os.sep in argv[0] else None
        if program is not None and program.exists():
            folder = program.resolve().parent
            trees.add(folder.parent if folder.name == "bin" else folder)  # codex reads files next to bin/
            trees.add(program.parent.resolve())  # a venv's bin/python: the link's own folder
    return [t.resolve() for t in trees]


def _package_root(name: str) -> Path | None:
    """The folder holding package ``name`` (found, not imported)."""
    import importlib.util

    spec = importlib.util.find_spec(name)
    if spec is None or not spec.origin:
        return None
    return Path(spec.origin).resolve().parents[1]
