"""Resource budgets for a server process tree, sampled from /proc (Linux).

:class:`ResourceSampler` samples the server in a background thread -- its RSS, open fds, threads and
CPU time, and every process it started -- while the test runs (phase ``during``), then, after
:meth:`ResourceSampler.settle`, while its processes should be going away (``settling``) and once the
server should be idle (``idle``). :func:`check_resource_budget` judges the samples (pure): the maxima
during the whole run, the processes still alive at the end, the fds gained and the CPU burnt while idle.

Finding "every process the server started" takes more than walking /proc children, because a process
that double-forks or calls ``setsid`` is re-parented away from the server. A process counts when it is
(1) below the server in the process tree, (2) below the sampled root (e.g. inside the server's bubblewrap
pid namespace, whose init adopts orphans) but not one of the server's own ancestors, (3) in the server's
session or process group, or (4) carries the marker ``KEY=VALUE`` in its environment (a test passes it in
every ``process/start``; children inherit it whatever they re-parent to).
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from types import TracebackType

PHASES = ("during", "settling", "idle")
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


@dataclass(frozen=True)
class ProcInfo:
    """A process found as the server's: its pid, name, command line, and how it was found."""

    pid: int
    comm: str
    cmdline: str
    found_by: str  # "tree", "sandbox", "session", "group" or "marker"

    def describe(self) -> str:
        return f"pid {self.pid} {self.comm!r} ({self.cmdline[:80]!r}, found by {self.found_by})"


@dataclass(frozen=True)
class ResourceSample:
    """One look at the server: ``t_s`` since the sampler started, in which phase."""

    t_s: float
    phase: str
    rss_mb: float
    fds: int
    threads: int
    cpu_s: float  # the server process's user + system CPU time so far
    descendants: tuple[ProcInfo, ...] = ()


@dataclass(frozen=True)
class Violation:
    """One budget exceeded: which, the limit, the measured value and an account a reader can act on."""

    budget: str
    limit: float
    measured: float
    account: str

    def __str__(self) -> str:
        return f"{self.budget}: {self.measured:g} > {self.limit:g}: {self.account}"


# ---------------------------------------------------------------------------------------------- /proc reading


@dataclass(frozen=True)
class _Stat:
    pid: int
    comm: str
    state: str
    ppid: int
    pgid: int
    sid: int
    cpu_s: float
    threads: int
    rss_pages: int


def _read_stat(pid: int) -> _Stat | None:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            raw = handle.read()
    except OSError:
        return None
    head, _, tail = raw.rpartition(")")
    fields = tail.split()
    try:
        return _Stat(
            pid=pid, comm=head.partition("(")[2], state=fields[0], ppid=int(fields[1]), pgid=int(fields[2]),
            sid=int(fields[3]), cpu_s=(int(fields[11]) + int(fields[12])) / _TICKS, threads=int(fields[17]),
            rss_pages=int(fields[21]),
        )  # fmt: skip
    except (IndexError, ValueError):
        return None


def _all_stats() -> dict[int, _Stat]:
    stats = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (stat := _read_stat(int(entry))) is not None:
            stats[stat.pid] = stat
    return stats


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return handle.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def _has_marker(pid: int, marker: bytes) -> bool:
    try:
        with open(f"/proc/{pid}/environ", "rb") as handle:
            return marker in handle.read().split(b"\0")
    except OSError:
        return False


def _count_fds(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return -1


def _below(root: int, stats: dict[int, _Stat]) -> list[int]:
    children: dict[int, list[int]] = {}
    for stat in stats.values():
        children.setdefault(stat.ppid, []).append(stat.pid)
    found, queue = [], [root]
    while queue:
        for child in children.get(queue.pop(), []):
            found.append(child)
            queue.append(child)
    return found


def server_pid(root: int) -> int:
    """The exec-server itself below ``root``: ``root`` unless it is a bubblewrap wrapper (then the first
    process below it that is not)."""
    stats = _all_stats()
    pid = root
    while pid in stats and stats[pid].comm == "bwrap":
        children = sorted(s.pid for s in stats.values() if s.ppid == pid)
        if not children:
            break
        pid = children[0]
    return pid


def find_descendants(root: int, server: int, marker: str | None = None) -> list[ProcInfo]:
    """Every live (non-zombie) process the server started, by the four ways in the module docstring."""
    stats = _all_stats()
    server_stat = stats.get(server)
    ancestors = {server}
    pid = server
    while pid in stats and pid != root:
        pid = stats[pid].ppid
        ancestors.add(pid)
    found: dict[int, str] = {}
    for pid in _below(server, stats):
        found.setdefault(pid, "tree")
    if root != server:
        for pid in _below(root, stats):
            if pid not in ancestors:
                found.setdefault(pid, "sandbox")
    if server_stat is not None:
        for stat in stats.values():
            if stat.pid in ancestors:
                continue
            if stat.sid == server_stat.sid:
                found.setdefault(stat.pid, "session")
            elif stat.pgid == server_stat.pgid:
                found.setdefault(stat.pid, "group")
    if marker:
        wanted = marker.encode()
        own = os.getpid()
        for stat in stats.values():
            if stat.pid not in ancestors and stat.pid != own and _has_marker(stat.pid, wanted):
                found.setdefault(stat.pid, "marker")
    return [
        ProcInfo(pid, stats[pid].comm, _cmdline(pid), how)
        for pid, how in sorted(found.items())
        if pid in stats and stats[pid].state != "Z"
    ]


def take_sample(root: int, server: int, marker: str | None, t_s: float, phase: str) -> ResourceSample | None:
    """One sample of the server (None once it is gone)."""
    stat = _read_stat(server)
    if stat is None:
        return None
    return ResourceSample(
        t_s=t_s, phase=phase, rss_mb=stat.rss_pages * _PAGE / 2**20, fds=_count_fds(server),
        threads=stat.threads, cpu_s=stat.cpu_s, descendants=tuple(find_descendants(root, server, marker)),
    )  # fmt: skip


def marked_processes(marker: str) -> list[ProcInfo]:
    """Every live process carrying ``marker`` (``KEY=VALUE``) in its environment, wherever it re-parented."""
    return find_descendants(-1, -1, marker)


def kill_processes(procs: Iterable[ProcInfo]) -> None:
    """SIGKILL each process (cleanup after a test found survivors)."""
    for proc in procs:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(proc.pid, signal.SIGKILL)


# ---------------------------------------------------------------------------------------------- the sampler


class ResourceSampler:
    """Samples the server under ``pid`` every ``interval_s`` in a background thread.

    ``with ResourceSampler(server.popen.pid, marker="K=V") as sampler: ...; sampler.settle()`` then
    ``check_resource_budget(sampler.samples, ...)``. The first sample (the baseline) is taken on entry.
    """

    def __init__(self, pid: int, *, marker: str | None = None, interval_s: float = 0.1) -> None:
        self.root = pid
        self.server = server_pid(pid)
        self.marker = marker
        self.interval_s = interval_s
        self.samples: list[ResourceSample] = []
        self.phase = "during"
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._t0 = time.monotonic()

    def sample_now(self) -> ResourceSample | None:
        sample = take_sample(self.root, self.server, self.marker, time.monotonic() - self._t0, self.phase)
        if sample is not None:
            with self._lock:
                self.samples.append(sample)
        return sample

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.sample_now()

    def __enter__(self) -> ResourceSampler:
        self._t0 = time.monotonic()
        self.sample_now()
        self._thread = threading.Thread(target=self._run, name="resource-sampler", daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def settle(self, *, grace_s: float = 5.0, idle_s: float = 1.0) -> None:
        """The test is over: wait (at most ``grace_s``) until none of the server's processes is left, then
        sample the idle server for ``idle_s``. Blocking; call it outside the event loop thread."""
        self.phase = "settling"
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline:
            sample = self.sample_now()
            if sample is None or not sample.descendants:
                break
            time.sleep(self.interval_s)  # polling /proc: the condition has no event to wait on
        self.phase = "idle"
        self.sample_now()
        end = time.monotonic() + idle_s
        while time.monotonic() < end:
            time.sleep(min(self.interval_s, max(0.0, end - time.monotonic())))
            self.sample_now()

    def survivors(self) -> list[ProcInfo]:
        """The server's processes alive right now."""
        return find_descendants(self.root, self.server, self.marker)


# ---------------------------------------------------------------------------------------------- the check


def check_resource_budget(
    samples: Sequence[ResourceSample],
    *,
    rss_mb: float | None = None,
    fds: int | None = None,
    threads: int | None = None,
    descendants: int | None = None,
    idle_cpu_pct: float | None = None,
    fd_growth: int | None = None,
) -> list[Violation]:
    """The budgets ``samples`` exceed (empty: within budget). ``rss_mb``, ``fds`` and ``threads`` bound every
    sample; ``descendants`` bounds the processes left at the last sample after :meth:`ResourceSampler.settle`
    (any phase if it was never called); ``idle_cpu_pct`` the CPU use over the ``idle`` samples;
    ``fd_growth`` the fds at the last sample minus the first (baseline) sample."""
    violations: list[Violation] = []
    if not samples:
        return [Violation("samples", 0, 0, "no sample of the server was taken (did it exit?)")]

    def bound(name: str, limit: float | None, value: float, sample: ResourceSample) -> None:
        if limit is not None and value > limit:
            violations.append(
                Violation(name, limit, round(value, 3), f"at {sample.t_s:.2f} s ({sample.phase}); "
                          f"baseline {getattr(samples[0], name):g} at start")
            )  # fmt: skip

    for name, limit in (("rss_mb", rss_mb), ("fds", fds), ("threads", threads)):
        if limit is not None:
            worst = max(samples, key=lambda s, n=name: float(getattr(s, n)))  # type: ignore[misc]
            bound(name, limit, float(getattr(worst, name)), worst)
    last = samples[-1]
    if descendants is not None and len(last.descendants) > descendants:
        listed = "; ".join(p.describe() for p in last.descendants[:10])
        violations.append(
            Violation("descendants", descendants, len(last.descendants),
                      f"still alive at {last.t_s:.2f} s ({last.phase}) after the test: {listed}")
        )  # fmt: skip
    if fd_growth is not None and last.fds - samples[0].fds > fd_growth:
        violations.append(
            Violation("fd_growth", fd_growth, last.fds - samples[0].fds,
                      f"{samples[0].fds} fds at start, {last.fds} at {last.t_s:.2f} s ({last.phase}): "
                      "fds not released after the test (a leak)")
        )  # fmt: skip
    idle = [s for s in samples if s.phase == "idle"]
    if idle_cpu_pct is not None and len(idle) >= 2 and idle[-1].t_s > idle[0].t_s:
        window = idle[-1].t_s - idle[0].t_s
        pct = 100.0 * (idle[-1].cpu_s - idle[0].cpu_s) / window
        if pct > idle_cpu_pct:
            violations.append(
                Violation("idle_cpu_pct", idle_cpu_pct, round(pct, 1),
                          f"{idle[-1].cpu_s - idle[0].cpu_s:.2f} s CPU over {window:.2f} s idle")
            )  # fmt: skip
    return violations
