"""The conformance suite's per-process stream checks, proven to fire on crafted notification streams.

The live scenarios only ever see well-formed streams from the two servers; these streams are what a broken
server (or codex's own wire reordering) would send.
"""

from __future__ import annotations

import base64
import subprocess
from pathlib import Path
from typing import Any

import pytest

from pytest_execserver.servers.launch import ServerProcess
from pytest_execserver.suites.conformance.harness import Ctx, summarize


def _ctx(kind: str, tmp_path: Path) -> Ctx:
    popen: Any = subprocess.Popen(["true"])  # only its args are read
    popen.wait()
    server = ServerProcess(kind, "ws://127.0.0.1:1", tmp_path, tmp_path / "log", None, popen)  # type: ignore[arg-type]
    return Ctx(server, tmp_path)


def _output(seq: int, data: str = "x") -> dict[str, Any]:
    chunk = base64.b64encode(data.encode()).decode()
    return {"method": "process/output", "params": {"processId": "p", "seq": seq, "stream": "stdout", "chunk": chunk}}


def _exited(seq: int) -> dict[str, Any]:
    return {"method": "process/exited", "params": {"processId": "p", "seq": seq, "exitCode": 0}}


def _closed(seq: int) -> dict[str, Any]:
    return {"method": "process/closed", "params": {"processId": "p", "seq": seq}}


def _violations(ctx: Ctx, notes: list[dict[str, Any]]) -> list[str]:
    ctx.check_stream("run", notes)
    return [m.split(":")[0] for m in ctx.mismatches]


def test_codex_putting_closed_before_exited_on_the_wire_is_judged_by_seq(tmp_path: Path) -> None:
    # seen from codex 0.169.0 in CI with no fault: output 1, closed 3, exited 2
    notes = [_output(1), _closed(3), _exited(2)]
    assert _violations(_ctx("codex@0.169.0", tmp_path), notes) == []
    assert summarize(sorted(notes, key=lambda n: n["params"]["seq"]))["terminal-events"] == ["exited", "closed"]


def test_the_reference_server_must_keep_exited_before_closed_on_the_wire(tmp_path: Path) -> None:
    ctx = _ctx("ref", tmp_path)
    assert _violations(ctx, [_output(1), _closed(3), _exited(2)]) == ["run.ref-wire-order"]
    assert [key for key, _ in ctx.transcript if "wire" in key] == []  # codex's transcript has no such key


@pytest.mark.parametrize(
    ("notes", "broken"),
    [
        ([_output(1), _exited(2)], ["run.one-closed", "run.closed-has-highest-seq", "run.exited-before-closed"]),
        ([_output(1), _closed(2)], ["run.one-exited"]),
        ([_output(1), _exited(3), _closed(2)], ["run.closed-has-highest-seq", "run.exited-before-closed"]),
        ([_output(1), _output(3), _exited(4), _closed(5)], ["run.seq-contiguous-from-1"]),
        ([_output(1), _exited(2), _exited(3), _closed(4)], ["run.one-exited"]),
    ],
    ids=["no-closed", "no-exited", "closed-below-exited", "seq-hole", "two-exited"],
)
def test_each_stream_check_fires(notes: list[dict[str, Any]], broken: list[str], tmp_path: Path) -> None:
    assert _violations(_ctx("codex@0.169.0", tmp_path), notes) == broken
