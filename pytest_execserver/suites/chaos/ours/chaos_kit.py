"""Shared workloads and checks for the chaos matrix: processes whose exact output the test knows in advance.

Every workload is a process with deterministic output (``seq``, a seeded binary blob written into the
test's scratch directory and ``cat``-ed back, or a paced shell loop). :func:`run_workload` registers the
expected bytes in ``exec_history`` *before* starting the process (so ``byte_exact`` checks them even if the
test body fails later) and asserts them byte-exact itself; the plugin then checks every invariant over the
recorded history after the test.

Safety: the only paths sent to the server are inside ``exec_scratch``; argv uses ``/bin/sh``, ``/bin/cat``
and ``seq`` only.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pytest_execserver.checks.history import durations_ms
from pytest_execserver.checks.invariants import ExecHistory
from pytest_execserver.client import ExecClient, ProcessHandle, ProcessResult
from pytest_execserver.suites.chaos.compare import assert_bytes
from pytest_execserver.suites.chaos.workloads import Workload as Workload
from pytest_execserver.suites.chaos.workloads import blob_workload as blob_workload
from pytest_execserver.suites.chaos.workloads import paced_workload as paced_workload
from pytest_execserver.suites.chaos.workloads import seq_lines as seq_lines
from pytest_execserver.suites.chaos.workloads import seq_workload as seq_workload

# The child's complete environment (the protocol sends no inherited environment).
ENV = {"PATH": "/usr/bin:/bin", "LC_ALL": "C"}
MODES = ("event-stream", "legacy-read")


_ids = iter(range(1, 1_000_000))


async def start_workload(client: ExecClient, history: ExecHistory, workload: Workload, scratch: Path
                         ) -> ProcessHandle:
    """Write the workload's files, register its expected output, start it (cwd = the test's scratch)."""
    for name, data in workload.files.items():
        (scratch / name).write_bytes(data)
    pid = f"{client.client_id}-{workload.name}-{next(_ids)}"
    history.expect_output(pid, stdout=workload.stdout, stderr=workload.stderr, client=client.client_id)
    return await client.start(list(workload.argv), cwd=scratch, env=ENV, process_id=pid)


def check_result(result: ProcessResult, workload: Workload) -> ProcessResult:
    assert_bytes(result.stdout, workload.stdout, f"{workload.name} stdout")
    assert_bytes(result.stderr, workload.stderr, f"{workload.name} stderr")
    assert result.exit_code == workload.exit_code, f"{workload.name}: exit code {result.exit_code}"
    return result


async def run_workload(client: ExecClient, history: ExecHistory, workload: Workload, scratch: Path,
                       timeout: float = 30.0) -> ProcessResult:
    """Start, wait (bounded), and assert the output byte-exact."""
    handle = await start_workload(client, history, workload, scratch)
    return check_result(await handle.wait(timeout), workload)


async def run_all(client: ExecClient, history: ExecHistory, workloads: Sequence[Workload], scratch: Path,
                  timeout: float = 30.0) -> list[ProcessResult]:
    """Run workloads concurrently on one client; every one must complete byte-exact."""
    handles = [await start_workload(client, history, w, scratch) for w in workloads]
    results = await asyncio.gather(*(h.wait(timeout) for h in handles))
    return [check_result(r, w) for r, w in zip(results, workloads, strict=True)]


@dataclass
class Chaos:
    """The usual trio for one test (the ``chaos`` fixture): the client, its history and the scratch dir the
    server may use. Defined here, not in ``conftest.py``: test modules import it, and ``conftest`` is an
    ambiguous module name when ``tests/plugin`` and ``tests/chaos`` are collected together."""

    client: ExecClient
    history: ExecHistory
    scratch: Path

    async def run(self, workload: Workload, timeout: float = 30.0) -> ProcessResult:
        return await run_workload(self.client, self.history, workload, self.scratch, timeout)

    async def run_all(self, *workloads: Workload, timeout: float = 30.0) -> list[ProcessResult]:
        return await run_all(self.client, self.history, workloads, self.scratch, timeout)


# ------------------------------------------------------------------------------------------ history helpers


def delivered(history: ExecHistory, process_id: str) -> bool:
    """Whether some output of the process has reached the test (a condition to wait for)."""
    return any(e.process_id == process_id for e in history.select("deliver:output"))


def ops(history: ExecHistory, op: str, kind: str | None = None) -> list[Any]:
    return history.select(op, kind)  # type: ignore[arg-type]


def faults_applied(history: ExecHistory, kind: str) -> list[Any]:
    return [e for e in history.select("fault") if e.data.get("action") == "apply"
            and e.data.get("kind") == kind]


def assert_fault_applied(history: ExecHistory, proxy: Any, kind: str) -> None:
    """The fault really went in (a history ``fault`` event) and the injector reported no error."""
    assert faults_applied(history, kind), f"no {kind!r} fault was applied (history has no fault event)"
    errors = list(getattr(proxy.injector, "errors", []))
    assert not errors, f"fault injector errors: {errors}"


def min_ms(history: ExecHistory, op: str) -> float:
    values = durations_ms(history.events, op)
    assert values, f"no completed {op} operation in the history"
    return min(values)


def assert_recovered_by_read(history: ExecHistory, client: ExecClient) -> None:
    """The client reconnected (resumeSessionId: same session) and read back with process/read afterwards."""
    ok = ops(history, "reconnect", "ok")
    assert ok, "expected a successful reconnect after the cut"
    assert client.reconnects >= 1
    last = ok[0].time_ns
    reads = [e for e in ops(history, "rpc:process/read", "ok") if e.time_ns > last]
    assert reads, "expected process/read after the reconnect (recovery by read-back)"
    resumes = [e for e in ops(history, "initialize", "invoke") if e.data.get("resume")]
    assert resumes, "expected initialize with resumeSessionId"


@pytest.fixture
def chaos(exec_client: ExecClient, exec_history: ExecHistory, exec_scratch: Path) -> Chaos:
    """The client, its history and the scratch dir of one test (re-exported by this package's conftest)."""
    return Chaos(exec_client, exec_history, exec_scratch)
