"""Confinement for every server the harness starts.

An exec-server is a remote shell with the server's rights, so the harness never starts one loose: it gets
its own scratch directory as cwd and HOME, and a filesystem sandbox in which only that scratch directory
(and a private /tmp) is writable. Preferred sandbox: bubblewrap (Debian package ``bubblewrap``), when a
trial run shows it usable (Ubuntu 24.04's AppArmor, or a container without user namespaces, can make an
installed ``bwrap`` fail). Without it, a server started as root drops to an unprivileged user, in a private
mount namespace that makes the interpreter, the virtualenv and the scratch directory reachable for that
user when they are not (:mod:`.reach`); a non-root user is already unprivileged. When none of that works,
:func:`check_session` stops the session once, before any test, with :data:`FIXES`. Opting out
(``--execserver-unconfined``) is explicit and loud.
"""

from __future__ import annotations

import enum
import functools
import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pytest_execserver.servers import reach
from pytest_execserver.servers.lifetime import die_with_parent, then_die_with_parent


class ConfinementError(RuntimeError):
    """No acceptable way to confine a server was found."""


class Confinement(enum.Enum):
    """How a server process is confined."""

    BWRAP = "bwrap"
    UNPRIVILEGED_USER = "unprivileged-user"
    NONE = "none"


UNPRIVILEGED_USER = "nobody"
INSTALL_BWRAP = "python -m pytest_execserver install bubblewrap"
FIXES = (
    f"fix one of: install bubblewrap (`{INSTALL_BWRAP}`); run pytest as a "
    "non-root user; move the virtualenv and its Python to a folder every user can read (not under /root "
    "or a 0700 folder); or pass --execserver-unconfined (DANGEROUS: servers can write anywhere)"
)
_TRIAL_TIMEOUT_S = 30.0

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


def bwrap_installed() -> str | None:
    """The ``bwrap`` on PATH, usable or not."""
    return shutil.which("bwrap")


def bwrap_path() -> str | None:
    """The bubblewrap binary, if installed and usable (a trial run passed)."""
    path = bwrap_installed()
    return path if path is not None and bwrap_trial(path) == "" else None


@functools.lru_cache(maxsize=4)
def bwrap_trial(path: str) -> str:
    """Run ``bwrap --ro-bind / / --dev /dev --proc /proc true`` once per binary: "" if it works, else why not."""
    return _trial([path, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "true"])


@functools.lru_cache(maxsize=1)
def namespace_trial() -> str:
    """Whether this (root) process may make a private mount namespace and drop to the user: "" or why not."""
    user = pwd.getpwnam(UNPRIVILEGED_USER)
    empty = {"covers": [], "writable": [], "uid": user.pw_uid, "gid": user.pw_gid, "cwd": "/",
             "parent": os.getpid()}
    return _trial(_reach_argv(empty, ["/bin/sh", "-c", "true"]))


def _trial(argv: list[str]) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, timeout=_TRIAL_TIMEOUT_S, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError) as exc:
        return str(exc)
    if done.returncode == 0:
        return ""
    last = done.stderr.decode(errors="replace").strip().splitlines()[-1:] or [f"exit status {done.returncode}"]
    return f"`{' '.join(argv[:2])} ...` failed: {last[0]}"


def _reach_argv(plan: dict[str, object], argv: list[str]) -> list[str]:
    helper = Path(reach.__file__).with_name("reach_exec.py")
    return [sys.executable, "-I", "-S", str(helper), json.dumps(plan), "--", *argv]


def choose_confinement(unconfined: bool = False) -> Confinement:
    """Pick the strongest confinement this machine supports."""
    return confinement_report(unconfined)[0]


def confinement_report(unconfined: bool = False) -> tuple[Confinement, str]:
    """The confinement servers get here, and why (for the header and ``doctor``).

    Raises :class:`ConfinementError` when running as root with neither a usable bubblewrap nor a
    ``nobody`` user.
    """
    if unconfined:
        return Confinement.NONE, "--execserver-unconfined was given"
    installed = bwrap_installed()
    if installed is not None:
        failed = bwrap_trial(installed)
        if not failed:
            return Confinement.BWRAP, f"bubblewrap {installed} works here"
        why_not = f"bubblewrap is installed but unusable ({failed})"
    else:
        why_not = "bubblewrap is not installed"
    if os.geteuid() != 0:
        return Confinement.UNPRIVILEGED_USER, f"{why_not}; pytest runs as a non-root user (uid {os.geteuid()})"
    try:
        pwd.getpwnam(UNPRIVILEGED_USER)
    except KeyError as exc:
        raise ConfinementError(f"running as root, {why_not}, and there is no '{UNPRIVILEGED_USER}' user; "
                               + FIXES) from exc
    return Confinement.UNPRIVILEGED_USER, f"{why_not}; running as root, so servers run as '{UNPRIVILEGED_USER}'"


def confinement_brief(unconfined: bool = False) -> str:
    """One short line for the pytest header: the confinement, why, and the fix when it is not bubblewrap
    (``unprivileged-user (bubblewrap not found; fix: python -m pytest_execserver install bubblewrap)``).

    Raises :class:`ConfinementError` like :func:`confinement_report`.
    """
    kind, _ = confinement_report(unconfined)
    if kind is Confinement.NONE:
        return "none (--execserver-unconfined)"
    installed = bwrap_installed()
    if kind is Confinement.BWRAP:
        return f"bwrap ({installed} works)"
    as_nobody = f", servers run as '{UNPRIVILEGED_USER}'" if os.geteuid() == 0 else ""
    if installed is None:
        return f"unprivileged-user (bubblewrap not found{as_nobody}; fix: {INSTALL_BWRAP})"
    failed = bwrap_trial(installed).rpartition("failed: ")[2]  # bwrap's own words, without the command
    failed = failed if len(failed) <= 80 else failed[:77] + "..."
    return f"unprivileged-user (bubblewrap unusable: {failed}{as_nobody}; fix: python -m pytest_execserver doctor)"


def check_session(unconfined: bool = False) -> Confinement:
    """Before any test: prove that a server can start here, by running the reference server's Python
    (importing its package) exactly as a server would be run. Raises :class:`ConfinementError` with
    :data:`FIXES` and what failed."""
    confinement, why = confinement_report(unconfined)
    if confinement is Confinement.NONE:
        return confinement
    scratch = Path(tempfile.mkdtemp(prefix="execserver-trial-"))
    try:
        command = confine([sys.executable, "-c", "import execserver_ref.__main__"], scratch, confinement=confinement)
        done = subprocess.run(command.argv, cwd=command.cwd, env=command.env, preexec_fn=command.preexec,
                              capture_output=True, timeout=_TRIAL_TIMEOUT_S, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError) as exc:
        raise ConfinementError(f"a server cannot be started here ({why}): {exc}; {FIXES}") from exc
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if done.returncode != 0:
        tail = done.stderr.decode(errors="replace").strip().splitlines()[-1:] or [f"exit {done.returncode}"]
        raise ConfinementError(f"a server cannot be started here ({why}): {sys.executable} failed as the "
                               f"server would run it: {tail[0]}; {FIXES}")
    return confinement


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
        reachable = reach.plan(reach.server_trees(argv), [scratch], reach.User(user.pw_uid, user.pw_gid))
        if reachable.unreachable:
            raise ConfinementError(f"'{UNPRIVILEGED_USER}' cannot use {'; '.join(reachable.unreachable)}; {FIXES}")
        if reachable.covers:
            return _covered(argv, scratch, full_env, reachable, user)

        def drop_privileges() -> None:
            os.setgroups([])
            os.setgid(user.pw_gid)
            os.setuid(user.pw_uid)

        preexec = then_die_with_parent(drop_privileges)  # the drop first: it would clear the death signal
        return ConfinedCommand(list(argv), full_env, scratch, confinement, preexec=preexec)
    return ConfinedCommand(list(argv), full_env, scratch, confinement, preexec=die_with_parent)


def _covered(argv: list[str], scratch: Path, env: dict[str, str], plan: reach.Plan,
             user: pwd.struct_passwd) -> ConfinedCommand:
    """``argv`` run through :mod:`.reach_exec`: a private mount namespace that covers what ``nobody``
    cannot pass, then the drop to ``nobody``."""
    failed = namespace_trial()
    if failed:
        blocked = ", ".join(str(c.blocked) for c in plan.covers)
        raise ConfinementError(f"'{UNPRIVILEGED_USER}' cannot pass {blocked} and no private mount namespace "
                               f"can be made to fix that ({failed}); {FIXES}")
    spec = {
        "covers": [{"blocked": str(c.blocked), "trees": [str(t) for t in c.trees]} for c in plan.covers],
        "writable": [str(p) for p in plan.writable],
        "uid": user.pw_uid, "gid": user.pw_gid, "cwd": str(scratch), "parent": os.getpid(),
    }
    return ConfinedCommand(_reach_argv(spec, argv), env, scratch, Confinement.UNPRIVILEGED_USER,
                           preexec=die_with_parent)


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


def hand_to_server(scratch: Path, *paths: Path) -> None:
    """Give what the harness made inside a server's ``scratch`` to the server's user (the owner of scratch).

    As root with the ``unprivileged-user`` confinement the server runs as ``nobody`` and owns its scratch
    directory; a folder root adds there later would not be writable for it.
    """
    if os.geteuid() != 0:
        return
    st = scratch.stat()
    if st.st_uid != 0:
        for path in paths:
            os.chown(path, st.st_uid, st.st_gid, follow_symlinks=False)


def _chown_tree(root: Path, uid: int, gid: int) -> None:
    for dirpath, dirnames, filenames in os.walk(root):
        os.chown(dirpath, uid, gid)
        for name in dirnames + filenames:
            os.chown(os.path.join(dirpath, name), uid, gid, follow_symlinks=False)
