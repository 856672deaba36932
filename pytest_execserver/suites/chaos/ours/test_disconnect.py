"""Connection cuts mid-stream: the client reconnects with ``resumeSessionId``, reads back with
``process/read`` and delivers every byte exactly once, in order -- for every way a connection can die.

Rows: ``reset`` (RST: the protocol proxy's ``cut`` right after the 10th output message, placed by that
event), ``close`` (FIN) and ``timeout`` (silent until the toxic goes, then closed), Toxiproxy's, after a time
(no protocol kind makes a bare FIN or a silence that also holds new connections); and ``after_bytes`` (the
connection is closed once that many bytes went server -> client). The cut lands in the middle of a paced
stream (stdout + stderr + exit code); a second process afterwards shows the resumed session is fully usable.
"""

from __future__ import annotations

import pytest

from pytest_execserver.faults.kinds import DEFAULT_HOLD_MS
from pytest_execserver.glue.fixtures import ExecProxy
from pytest_execserver.suites.chaos.ours.chaos_kit import (
    Chaos,
    assert_fault_applied,
    assert_recovered_by_read,
    faults_applied,
    ops,
    paced_workload,
    seq_workload,
    start_workload,
)

pytestmark = [pytest.mark.exec_mode("both"), pytest.mark.asyncio]

STREAM = paced_workload(40, per_batch=150, sleep_s=0.025)  # ~1 s, ~34 KB stdout, 40 stderr lines


OUTPUT = "process/output|process/read:response"  # output pushed, or polled (legacy-read)


def cut(name: str, mode: str = "reset", *, after_ms: int | None = None, after_bytes: int | None = None,
        nth: int | None = None) -> object:
    timing = {"after_bytes": after_bytes} if after_bytes is not None else {"after_ms": after_ms}
    hold_s = DEFAULT_HOLD_MS[mode] / 1000 if after_bytes is None and nth is None else 0.0
    fault = (pytest.mark.fault("cut", on=OUTPUT, nth=nth) if nth is not None
             else pytest.mark.fault("disconnect", mode=mode, **timing))
    marks = [
        fault,
        # the process spans the cut: its own run time + the cut's hold + reconnect and read-back
        pytest.mark.latency_budget("process", max=STREAM.nominal_s * 1000 * 4 + hold_s * 1000 + 6000, min_samples=2),
        pytest.mark.latency_budget("rpc:process/start", p50=1000, max=3000, min_samples=2),
    ]
    return pytest.param(hold_s, "cut" if nth is not None else "disconnect", id=name, marks=marks)


@pytest.mark.parametrize(
    ("hold_s", "kind"),
    [
        cut("reset", "reset", nth=10),
        cut("close", "close", after_ms=300),
        cut("timeout", "timeout", after_ms=300),
        cut("after-8KB", after_bytes=8 * 1024),
        cut("after-24KB", after_bytes=24 * 1024),
    ],
)
async def test_cut_mid_stream_recovers(chaos: Chaos, exec_proxy: ExecProxy, hold_s: float, kind: str) -> None:
    session = chaos.client.session_id
    handle = await start_workload(chaos.client, chaos.history, STREAM, chaos.scratch)
    result = await handle.wait(20)
    assert result.stdout == STREAM.stdout and result.stderr == STREAM.stderr, "output lost or corrupted by the cut"
    assert result.exit_code == STREAM.exit_code

    assert_fault_applied(chaos.history, exec_proxy, kind)
    assert_recovered_by_read(chaos.history, chaos.client)
    assert chaos.client.session_id == session, "the session was not resumed"
    # the cut really was mid-stream: output delivered both before and after the reconnect
    reconnect = ops(chaos.history, "reconnect", "invoke")[0].time_ns
    delivered = [e.time_ns for e in ops(chaos.history, "deliver:output") if e.process_id == handle.process_id]
    assert min(delivered) < reconnect < max(delivered), "the cut did not land in the middle of the stream"
    # and recovery was quick: cut applied -> reconnected within the hold time plus a wide margin
    applied = faults_applied(chaos.history, kind)[0].time_ns
    recovered = ops(chaos.history, "reconnect", "ok")[0].time_ns
    assert (recovered - applied) / 1e9 < hold_s + 5, "reconnect took too long"

    await chaos.run(seq_workload(5000))  # the resumed session carries new work
