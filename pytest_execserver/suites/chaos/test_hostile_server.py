"""A hostile or buggy server (issue 20): crafted frames the protocol proxy injects, and what the client holds.

Each case injects frames right after the answer to the test's second ``process/start`` (the first run is a
quiet ``true``: the baseline of the ``bounded_memory`` check), so they land on the same message for every
client: a flood of output for a process nobody started, output chunks over 1 MiB, output of the running
process at a seq a million ahead, and an ``exited`` without an exit code. The client must bound what it
holds (``bounded_memory``: its undelivered bytes, or its processes' resident memory, may grow by at most
``MEMORY_BOUND`` over the quiet run, while the frames carry several times that), fail only the process a
bad frame is about (here the running process delivers byte-exact, or reports an error with an exact
prefix), and keep the session working for the next run.
"""

from __future__ import annotations

import base64
from typing import Any

import pytest

from pytest_execserver.glue.fixtures import ExecProxy
from pytest_execserver.subjects.run import RecordingSubject
from pytest_execserver.suites.chaos.findings import HOSTILE_FINDINGS, xfail_if_found
from pytest_execserver.suites.chaos.kit import (
    check,
    check_prefix,
    paced_workload,
    run_checked,
    run_workload,
    seq_workload,
)

pytestmark = [pytest.mark.asyncio, pytest.mark.usefixtures("plaintext_hop")]

MIB = 1024 * 1024
MEMORY_BOUND = 32 * MIB  # growth over the quiet run; the flood carries 32 MiB (44 MB as base64), the oversized
# chunks 64 MiB (88 MB): a client holding it all grows past the bound, one holding a few messages at a time does
# not (a runtime keeping freed memory counts it: the example adapter grows ~19 MiB on the oversized chunks)
AFTER_START = "process/start:response"  # the second one: the run under test (the first is the quiet run)
STREAM = paced_workload(10, per_batch=100, sleep_s=0.02)  # ~0.2 s of output after the injected frames
GHOST = "no-such-process"  # a processId nobody started


def _output(process: str, seq: int, data: bytes) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "method": "process/output",
            "params": {"processId": process, "seq": seq, "stream": "stdout",
                       "chunk": base64.b64encode(data).decode("ascii")}}


def _inject(name: str, frame: dict[str, Any], count: int = 1) -> Any:
    return pytest.param(name, {"frame": frame, "count": count}, id=name)


CASES = [
    # many small events for a process nobody started (a detached or foreign one): 32 MiB in 16000 messages
    _inject("flood", _output(GHOST, 1, b"f" * 2048), count=16000),
    # 2 MiB chunks (over the 1 MiB a client library may allow by default): 64 MiB in 32 messages
    _inject("oversized", _output(GHOST, 1, b"o" * (2 * MIB)), count=32),
    # output of the running process a million seqs ahead: never to be filled, never to be delivered
    _inject("future_seq", _output("{process}", 1_000_000, b"forged output\n")),
    # the running process "exited" at seq 1 with no exit code (its real seq 1 is its first output)
    _inject("exited_no_code", {"jsonrpc": "2.0", "method": "process/exited",
                               "params": {"processId": "{process}", "seq": 1}}),
]


@pytest.mark.parametrize(("case", "inject"), CASES)
async def test_hostile_frames_fail_only_their_process(exec_subject: RecordingSubject, exec_proxy: ExecProxy,
                                                      case: str, inject: dict[str, Any],
                                                      request: pytest.FixtureRequest) -> None:
    xfail_if_found(request, HOSTILE_FINDINGS[case])
    exec_proxy.apply("inject", on=AFTER_START, nth=2, **inject)  # before the first run: nth counts every start
    exec_subject.bound_memory(MEMORY_BOUND)
    await run_checked(exec_subject, seq_workload(3), timeout_ms=10_000)  # quiet (the baseline): nothing injected
    outcome = await run_workload(exec_subject, STREAM, timeout_ms=15_000)
    assert exec_proxy.protocol is not None
    fired = [e for e in exec_proxy.protocol.fired if e.kind == "inject" and e.phase == "fire"]
    assert fired, "the inject never fired (no second process/start answer passed the proxy)"
    peaks = [(r.memory_peak or 0) / MIB for r in exec_subject.state.runs]
    print(f"{case}: the client's {exec_subject.state.runs[-1].memory_what}: {peaks[0]:.1f} MiB in the quiet run, "
          f"{peaks[-1]:.1f} MiB with the injected frames")
    assert not exec_proxy.injector.errors, f"fault errors: {exec_proxy.injector.errors}"
    # about no process of the client's, the run must not notice; about the running process, it is delivered
    # as it really was, or fails alone
    if case in ("flood", "oversized") or outcome.error is None:
        check(outcome, STREAM, exec_subject)
    else:
        print(f"{case}: the client failed the process: {outcome.error.type}: {outcome.error.message[:200]}")
        check_prefix(outcome, STREAM, exec_subject)
    await run_checked(exec_subject, seq_workload(2000), timeout_ms=10_000)  # and the next run works
