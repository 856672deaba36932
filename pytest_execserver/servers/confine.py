"""Confinement for every server the harness starts.

An exec-server is a remote shell with the server's rights, so the harness never starts one loose: it gets
its own scratch directory as cwd and HOME, and a filesystem sandbox in which only that scratch directory
(and a private /tmp) is writable. Preferred sandbox: bubblewrap (Debian package ``bubblewrap``). Without
it, a server started as root drops to an unprivileged user; a non-root user is already unprivileged.
Opting out (``--execserver-unconfined``) is explicit and loud.
"""

from __future__ import annotations

import enum
import os
import pwd
import shutil
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pytest_execserver.servers.lifetime import die_with_parent, then_die_with_parent


class ConfinementError(RuntimeError):
    """No acceptable way to confine a server was found."""


class Confinement(enum.Enum):
    """How a server process is confined."""

    BWRAP = "bwrap"
    UNPRIVILEGED_USER = "unprivileged-user"
    NONE = "none"


UNPRIVILEGED_USER = "nobody"

# Environment passed through to confined servers; everything else is dropped so host secrets stay out.
_PASSTHROUGH_ENV = ("PATH", "LANG", "LC_ALL", "TERM", "TZ", "RUST_LOG", "OTEL_")


@dataclass(frozen=True)
class ConfinedCommand:
    """A command ready for ``subprocess.Popen``: argv, env, cwd and an optional pre-exec hook."""

    argv: list[str]
    env: dict[str, str]
    cwd: Path
    confinement: Confinement
    preexec: Callable[[], None] | None = field(default=None, compare=False)


def bwrap_path() -> str | None:
    """The bubblewrap binary, if installed and usable."""
    return shutil.which("bwrap")


def choose_confinement(unconfined: bool = False) -> Confinement:
    """Pick the strongest confinement this machine supports."""
    if unconfined:
        return Confinement.NONE
    if bwrap_path() is not None:
        return Confinement.BWRAP
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(UNPRIVILEGED_USER)
        except KeyError as exc:
            raise ConfinementError(
                "running as root without bubblewrap and without a 'nobody' user: install bubblewrap "
                "(apt-get install bubblewrap) or pass --execserver-unconfined if you accept the risk"
            ) from exc
        return Confinement.UNPRIVILEGED_USER
    return Confinement.UNPRIVILEGED_USER  # already an unprivileged user


def scratch_env(scratch: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """A minimal environment whose HOME and TMPDIR point into scratch."""
    env = {k: v for k, v in os.environ.items() if k.startswith(_PASSTHROUGH_ENV)}
    env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    env["HOME"] = str(scratch)
    env["TMPDIR"] = str(scratch / "tmp")
    env["CODEX_HOME"] = str(scratch / ".codex")
    if extra:
        env.update(extra)
    return env


def confine(
    argv: list[str],
    scratch: Path,
    *,
    confinement: Confinement,
    env: Mapping[str, str] | None = None,
) -> ConfinedCommand:
    """Wrap ``argv`` so that it runs with ``scratch`` as cwd and HOME and can write nowhere else."""
    scratch = scratch.resolve()
    (scratch / "tmp").mkdir(parents=True, exist_ok=True)
    (scratch / ".codex").mkdir(parents=True, exist_ok=True)
    full_env = scratch_env(scratch, env)
    if confinement is Confinement.BWRAP:
        bwrap = bwrap_path()
        if bwrap is None:
            raise ConfinementError("bubblewrap was selected but 'bwrap' is not on PATH")
        wrapped = [
            bwrap,
            "--ro-bind", "/", "/",
            "--dev", "/dev",
            "--proc", "/proc",
            *_private_dirs(argv),
            "--bind", str(scratch), str(scratch),
            "--chdir", str(scratch),
            "--unshare-pid",
            "--unshare-ipc",
            "--die-with-parent",
            # No --new-session: the harness already starts the server without a controlling terminal
            # (start_new_session), and staying in bwrap's process group lets SIGTERM reach the server
            # so it shuts down gracefully (kills its process groups, flushes spans).
            "--",
            *argv,
        ]  # fmt: skip
        return ConfinedCommand(wrapped, full_env, scratch, confinement, preexec=die_with_parent)
    if confinement is Confinement.UNPRIVILEGED_USER:
        if os.geteuid() != 0:
            return ConfinedCommand(list(argv), full_env, scratch, confinement, preexec=die_with_parent)
        user = pwd.getpwnam(UNPRIVILEGED_USER)
        _chown_tree(scratch, user.pw_uid, user.pw_gid)

        def drop_privileges() -> None:
            os.setgroups([])
            os.setgid(user.pw_gid)
            os.setuid(user.pw_uid)

        preexec = then_die_with_parent(drop_privileges)  # the drop first: it would clear the death signal
        return ConfinedCommand(list(argv), full_env, scratch, confinement, preexec=preexec)
    return ConfinedCommand(list(argv), full_env, scratch, confinement, preexec=die_with_parent)


def _private_dirs(argv: list[str]) -> list[str]:
    """A private, writable ``--tmpfs`` for /tmp and /run, with what the server needs bound back read-only.

    A checkout (and its virtualenv) may live under /tmp, e.g. a CI clone: its top folder under /tmp is
    bound back, read-only like the rest of the root, so the server's interpreter stays visible while /tmp
    itself stays private and writable (codex's own sandbox writes there before it starts a process).
    """
    needed = [Path(sys.prefix), Path(sys.base_prefix), Path(__file__).resolve().parent]
    if argv:
        needed.append(Path(argv[0]))
    needed = [p.resolve() for p in needed]
    out: list[str] = []
    for private in (Path("/tmp"), Path("/run")):
        if private in needed:
            continue  # the server runs from the folder itself: leave it as it is (read-only)
        out += ["--tmpfs", str(private)]
        tops = sorted({private / p.relative_to(private).parts[0] for p in needed if private in p.parents})
        for top in tops:
            out += ["--ro-bind", str(top), str(top)]
    return out


def _chown_tree(root: Path, uid: int, gid: int) -> None:
    for dirpath, dirnames, filenames in os.walk(root):
        os.chown(dirpath, uid, gid)
        for name in dirnames + filenames:
            os.chown(os.path.join(dirpath, name), uid, gid, follow_symlinks=False)
