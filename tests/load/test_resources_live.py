"""Resource budgets on the real reference server: within budget as it is, and each injected leak caught."""

from __future__ import annotations

import asyncio
import subprocess
import uuid
from collections.abc import Callable, Iterator

import pytest

from pytest_execserver.client import connect
from pytest_execserver.load import run_load_async
from pytest_execserver.load.resources import (
    ResourceSampler,
    Violation,
    check_resource_budget,
    find_descendants,
    kill_processes,
    marked_processes,
)
from pytest_execserver.servers.launch import ServerProcess
from pytest_execserver.waiting import wait_until, wait_until_sync

StartServer = Callable[..., ServerProcess]
MARK_KEY = "EXECSERVER_LOAD_MARK"
# a process that double-forks a grandchild (same process group, re-parented away) and then waits
DOUBLE_FORK = ["sh", "-c", "(sleep 30 >/dev/null 2>&1 </dev/null &); printf ready; exec sleep 31"]
BUDGET = {"rss_mb": 400.0, "fds": 200, "threads": 64, "descendants": 0, "idle_cpu_pct": 25.0, "fd_growth": 6}


@pytest.fixture
def marker() -> Iterator[str]:
    mark = f"{MARK_KEY}={uuid.uuid4().hex}"
    yield mark
    kill_processes(marked_processes(mark))  # whatever a buggy server left behind


def _sees(sampler: ResourceSampler, cmdlines: set[str]) -> bool:
    sample = sampler.sample_now()
    return sample is not None and cmdlines <= {p.cmdline for p in sample.descendants}


async def _exercise(url: str, marker: str, sampler: ResourceSampler) -> None:
    """32 one-shot processes over 8 clients, then two double-forking processes terminated."""
    env = dict([marker.split("=", 1)])
    result = await run_load_async(url, clients=8, processes_per_client=4, env=env)
    assert result.errors == 0, result.error_samples
    async with connect(url) as client:
        for _ in range(2):
            handle = await client.start(DOUBLE_FORK, env=env)
            async for chunk in handle:
                assert chunk.data == b"ready"
                break
            await wait_until(lambda: _sees(sampler, {"sleep 30", "sleep 31"}), 10, "the sampler sees both sleeps")
            assert await handle.terminate()
            await handle.wait(20)


def _measure(server: ServerProcess, marker: str) -> list[Violation]:
    with ResourceSampler(server.popen.pid, marker=marker, interval_s=0.05) as sampler:
        asyncio.run(_exercise(server.url, marker, sampler))
        sampler.settle(grace_s=1.0, idle_s=0.5)
    return check_resource_budget(sampler.samples, **BUDGET)  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", ["ref", pytest.param("codex", marks=pytest.mark.codex)])
def test_server_stays_within_its_resource_budget(launch_server: StartServer, marker: str, kind: str) -> None:
    assert _measure(launch_server(kind), marker) == []


def test_leaked_fds_fail_the_budget(launch_server: StartServer, marker: str) -> None:
    violations = _measure(launch_server("ref", "--inject-bug", "leak-fds"), marker)
    assert [v.budget for v in violations] == ["fd_growth"], violations
    assert violations[0].measured >= 30  # one per process: 32 + 2
    assert "fds not released after the test" in violations[0].account


def test_orphaned_grandchildren_fail_the_budget(launch_server: StartServer, marker: str) -> None:
    violations = _measure(launch_server("ref", "--inject-bug", "orphan-descendants"), marker)
    assert [v.budget for v in violations] == ["descendants"], violations
    assert violations[0].measured == 2
    assert violations[0].account.count("'sleep'") == 2 and "sleep 30" in violations[0].account


def test_sampler_finds_setsid_and_double_forked_processes(marker: str) -> None:
    # started here, not by a server (sh, then `exec sleep 42`, plays the server): its children escape by
    # double fork (re-parented, same session) and by double fork + setsid (re-parented, own session)
    script = "(setsid sleep 40 >/dev/null 2>&1 &); (sleep 41 >/dev/null 2>&1 &); printf go; exec sleep 42"
    key, value = marker.split("=", 1)
    proc = subprocess.Popen(["sh", "-c", script], env={"PATH": "/usr/bin:/bin", key: value},
                            stdout=subprocess.PIPE, start_new_session=True)  # fmt: skip
    try:
        assert proc.stdout is not None and proc.stdout.read(2) == b"go"
        found: dict[str, str] = {}

        def both() -> bool:
            found.clear()
            found.update({p.cmdline: p.found_by for p in find_descendants(proc.pid, proc.pid, marker)})
            # exec'd (not the subshell or `setsid` itself), and settled: a scan during the escape once found
            # the setsid'd one by session instead of by marker (a CI run); what counts is where it ends up
            return {"sleep 40", "sleep 41"} <= set(found) and found["sleep 40"] == "marker"

        wait_until_sync(both, timeout=10, what="both escaped sleeps found, the setsid'd one by its marker")
        assert found["sleep 41"] in ("session", "group")  # re-parented, still in the server's session
        assert found["sleep 40"] == "marker"  # re-parented and in a session of its own
        # without the marker the setsid'd one is invisible: why tests pass one
        assert [p.cmdline for p in find_descendants(proc.pid, proc.pid, None)] == ["sleep 41"]
    finally:
        kill_processes(find_descendants(proc.pid, proc.pid, marker))
        proc.kill()
        proc.wait()


async def _detach_with_running_process(url: str, marker: str, sampler: ResourceSampler) -> None:
    env = dict([marker.split("=", 1)])
    client = await connect(url)
    handle = await client.start(DOUBLE_FORK, env=env)
    async for chunk in handle:
        assert chunk.data == b"ready"
        break
    await wait_until(lambda: _sees(sampler, {"sleep 30", "sleep 31"}), 10, "the sampler sees both sleeps")
    await client.close()  # the session is detached; its TTL runs from here


@pytest.mark.parametrize(("bug", "survivors"), [(None, 0), ("orphan-descendants", 1)])
def test_no_process_outlives_the_session_ttl(launch_server: StartServer, marker: str, bug: str | None,
                                             survivors: int) -> None:  # fmt: skip
    server = launch_server("ref", "--session-ttl-ms", "300", *(["--inject-bug", bug] if bug else []))
    with ResourceSampler(server.popen.pid, marker=marker, interval_s=0.05) as sampler:
        asyncio.run(_detach_with_running_process(server.url, marker, sampler))
        sampler.settle(grace_s=2.0, idle_s=0.0)  # the TTL (0.3 s) plus a wide margin
    violations = check_resource_budget(sampler.samples, descendants=0)
    assert [v.measured for v in violations] == ([survivors] if survivors else []), violations
    if survivors:
        assert "'sleep 30'" in violations[0].account  # the double-forked grandchild, not the killed process
