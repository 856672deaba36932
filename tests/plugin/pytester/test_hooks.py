"""Post-test checks, budgets, artifacts and the terminal summary, driven by hand-written histories."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

Inner = Callable[..., pytest.RunResult]  # the `inner` fixture (tests/plugin/conftest.py)

HELPERS = '''
import pytest

def clean(h, pid="p1", chunks=(b"hel", b"lo")):
    h.record("invoke", "process", "c1", process_id=pid)
    seq = 0
    for seq, chunk in enumerate(chunks, 1):
        h.record("info", "wire:process/output", "c1", process_id=pid, seq=seq, stream="stdout", size=len(chunk))
        h.record("info", "deliver:output", "c1", process_id=pid, seq=seq, stream="stdout", chunk=chunk)
    for op in ("exited", "closed"):
        seq += 1
        h.record("info", "wire:process/" + op, "c1", process_id=pid, seq=seq)
        h.record("info", "deliver:" + op, "c1", process_id=pid, seq=seq)
    h.record("ok", "process", "c1", process_id=pid)
'''


def test_violation_fails_the_test_not_teardown(inner: Inner, pytester: pytest.Pytester) -> None:
    pytester.makepyfile(HELPERS + '''
def test_dup(exec_history):
    clean(exec_history)
    exec_history.record("info", "deliver:output", "c1", process_id="p1", seq=1, stream="stdout", chunk=b"hel")

def test_expect(exec_history):
    clean(exec_history)
    exec_history.expect_output("p1", stdout=b"help")

def test_ok(exec_history):
    clean(exec_history)
    exec_history.expect_output("p1", stdout=b"hello")
''')
    result = inner("--execserver-artifacts", pytester.path / "arts")
    result.assert_outcomes(passed=1, failed=2, errors=0)
    result.stdout.fnmatch_lines([
        "*test_dup*: execserver checks failed",
        "invariant violations:",
        "[[]ordered_output[]] process 'p1' (client c1): seq 1 delivered 2 times, expected exactly once",
    ])
    result.stdout.fnmatch_lines([
        "[[]byte_exact[]] process 'p1': delivered stdout differs from the expected output: first difference at "
        "byte 3 (expected 4 bytes b'help', got 5 bytes b'hello')*",
    ])
    result.stdout.fnmatch_lines(["*fault x invariant (pass/fail):*", "none * 2/1 * 2/1 *"])


def test_invariants_shown_when_the_test_itself_failed(inner: Inner, pytester: pytest.Pytester) -> None:
    pytester.makepyfile(HELPERS + '''
def test_x(exec_history):
    exec_history.record("invoke", "process", "c1", process_id="p7")
    raise TimeoutError("process p7 not closed")
''')
    result = inner("--execserver-artifacts", pytester.path / "arts")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*TimeoutError: process p7 not closed*",
        "*- execserver invariants -*",
        "[[]transport_reported[]] process 'p7' started at +*ms neither completed nor failed*unbounded wait*",
    ])


def test_artifacts_saved_and_listed(inner: Inner, pytester: pytest.Pytester) -> None:
    pytester.makepyfile(HELPERS + '''
def test_x(exec_history):
    clean(exec_history, chunks=(b"a",))
    assert False, "boom"
''')
    arts = pytester.path / "arts"
    result = inner("--execserver-artifacts", arts)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*- execserver artifacts -*", f"history: {arts}*history.jsonl",
                                 f"spans: {arts}*spans.json"])
    (folder,) = arts.iterdir()
    lines = (folder / "history.jsonl").read_text().splitlines()
    first = json.loads(lines[0])
    assert first["op"] == "process" and first["kind"] == "invoke"
    chunk = next(json.loads(x) for x in lines if '"deliver:output"' in x)
    assert chunk["data"]["chunk"] == b"a".hex()
    assert json.loads((folder / "spans.json").read_text()) == []
    assert json.loads((folder / "execserver.json").read_text())["nodeid"].endswith("test_x")


def test_ini_artifacts_and_passing_tests_save_nothing(inner: Inner, pytester: pytest.Pytester) -> None:
    pytester.makepyfile(HELPERS + "def test_x(exec_history):\n    clean(exec_history)\n")
    inner(ini=f"execserver_artifacts = {pytester.path / 'x'}\n").assert_outcomes(passed=1)
    assert not (pytester.path / "x").exists()


BUDGET = HELPERS + '''
import time

def rpcs(h, durations_ms):
    for i, d in enumerate(durations_ms):
        ev = h.record("invoke", "rpc:process/read", "c1", id=i)
        while time.monotonic_ns() - ev.time_ns < d * 1e6:
            pass
        h.record("ok", "rpc:process/read", "c1", id=i)

@pytest.mark.latency_budget(phase="rpc", p95=2)
def test_over(exec_history):
    rpcs(exec_history, [1, 1, 1, 1, 8])

@pytest.mark.latency_budget("rpc:process/read", max=500, min_samples=3)
def test_within(exec_history):
    rpcs(exec_history, [1, 1, 1])

@pytest.mark.latency_budget(phase="process", max=500, min_samples=2)
def test_too_few(exec_history):
    clean(exec_history)

@pytest.mark.latency_budget(phase="connect", max=5)
def test_no_history():
    pass
'''


def test_latency_budgets(inner: Inner, pytester: pytest.Pytester) -> None:
    pytester.makepyfile(BUDGET)
    result = inner("--execserver-artifacts", pytester.path / "arts", "-v")
    result.assert_outcomes(passed=1, failed=3)
    result.stdout.fnmatch_lines([
        "latency budget for phase 'rpc' (scale 1): n=5 p50=* p95=* p99=* max=* ms",
        "  - p95=* ms exceeds budget 2.0 ms (2 ms x scale 1) by * ms",
    ])
    result.stdout.fnmatch_lines(["*only 1 sample(s) of phase 'process', need min_samples=2*"])
    result.stdout.fnmatch_lines(["*latency_budget needs the test's history*"])
    result.stdout.fnmatch_lines(["latency per phase (ms):", "phase * n * p50 * p95 * p99 * max",
                                 "rpc * 8 *", "process * 1 *"])
    scaled = inner("--execserver-budget-scale", "100", "-k", "over")
    scaled.assert_outcomes(passed=1)


def test_report_under_xdist(inner: Inner, pytester: pytest.Pytester, tmp_path: Path) -> None:
    pytester.makepyfile(HELPERS + '''
@pytest.mark.parametrize("i", range(4))
def test_x(exec_history, i):
    clean(exec_history, pid=f"p{i}")
    if i == 3:
        exec_history.record("info", "deliver:output", "c1", process_id="p3", seq=1, stream="stdout", chunk=b"x")
''')
    out = tmp_path / "r.json"
    result = inner("-n", "2", "--execserver-report", out, "--execserver-seed", "3",
                   "--execserver-artifacts", tmp_path / "a", subprocess=True)
    result.assert_outcomes(passed=3, failed=1)
    data = json.loads(out.read_text())
    assert data["matrix"]["none"]["ordered_output"] == {"pass": 3, "fail": 1}
    assert len(data["tests"]) == 4 and {t["seed"] for t in data["tests"]} == {t["seed"] for t in data["tests"]}
    result.stdout.fnmatch_lines(["seed 3 (rerun with --execserver-seed 3)*"])


def test_report_outcomes_and_modes(inner: Inner, pytester: pytest.Pytester) -> None:
    """xfail/xpass are recorded as such (not skipped/passed); every record has the mode the test ran in."""
    pytester.makepyfile(HELPERS + '''
@pytest.mark.xfail(reason="known bug")
def test_xf(exec_history):
    clean(exec_history)
    assert False

@pytest.mark.xfail(reason="fixed since")
def test_xp(exec_history):
    clean(exec_history)

def test_plain(exec_history):
    clean(exec_history)

def test_skip(exec_history):
    pytest.skip("not here")

def test_uses_exec_mode(exec_history, exec_mode):
    clean(exec_history)
''')
    out = pytester.path / "r.json"  # inside the rootdir: an existing path outside it would move the rootdir
    result = inner("--execserver-report", out)
    result.assert_outcomes(passed=2, xfailed=1, xpassed=1, skipped=1)
    data = json.loads(out.read_text())
    outcomes = {t["nodeid"].rsplit("::", 1)[1]: t["outcome"] for t in data["tests"]}
    assert outcomes == {"test_xf": "xfailed", "test_xp": "xpassed", "test_plain": "passed", "test_skip": "skipped",
                        "test_uses_exec_mode": "passed"}
    assert {t["mode"] for t in data["tests"]} == {"event-stream"}
    assert data["header"]["modes"] == ["event-stream"]

    inner("--execserver-report", out, "--execserver-mode", "legacy-read", "-k", "plain").assert_outcomes(passed=1)
    data = json.loads(out.read_text())
    assert [t["mode"] for t in data["tests"]] == ["legacy-read"] and data["header"]["modes"] == ["legacy-read"]

    result = inner("--execserver-report", out, "--execserver-mode", "both", "-k", "plain or uses_exec_mode")
    result.assert_outcomes(passed=3)
    data = json.loads(out.read_text())
    modes = {t["nodeid"].split("::", 1)[1]: t["mode"] for t in data["tests"]}
    assert modes == {"test_plain": "event-stream", "test_uses_exec_mode[event-stream]": "event-stream",
                     "test_uses_exec_mode[legacy-read]": "legacy-read"}
    assert data["header"]["mode"] == "both" and data["header"]["modes"] == ["event-stream", "legacy-read"]
