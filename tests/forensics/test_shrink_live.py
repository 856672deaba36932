"""``--execserver-shrink`` on a real failure: eight seeded faults, one of which (a disconnect) triggers a
server bug, shrink to that one disconnect; the printed line, pasted into the test, fails the same way.

Everything real: the reference server with ``--inject-bug lose-first-chunk-after-resume``, Toxiproxy, the
harness client; each candidate schedule runs in a fresh pytest subprocess (fresh server and proxy).
"""

from __future__ import annotations

import re

import pytest

from tests.forensics import demo

pytestmark = pytest.mark.timeout(600)

BUGGY = ("--execserver-server", f"ref --inject-bug {demo.BUG}")
MARKER = re.compile(r"^(@pytest\.mark\.fault_schedule\(.*\))$", re.M)


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", "--execserver-seed", "1", *args, timeout=500)


def test_the_demo_schedule_has_eight_faults_and_one_disconnect() -> None:
    kinds = [s.fault.kind for s in demo.drawn_schedule()]
    assert len(kinds) == 8 and kinds.count("disconnect") == 1, kinds
    assert not {"down"} & set(kinds)  # the only cut is the disconnect


def test_eight_faults_shrink_to_the_one_disconnect_and_the_pasted_line_replays(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_demo=demo.seeded_source())
    result = run(pytester, *BUGGY, "--execserver-shrink", "--execserver-shrink-budget", "300")
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert re.search(r"execserver shrink: .*8 fault\(s\).*budget 300 s", out), out
    shrunk = "8 fault(s) shrunk to 1, still failing (pytest_execserver.client.errors.RecoveryError); failed again"
    assert shrunk in out, out
    lines = MARKER.findall(out)
    assert lines, out
    line = lines[-1]
    assert line.count("Fault(") == 1 and "Fault('disconnect'" in line and "mode='reset'" in line, line
    artifact = next(pytester.path.glob("execserver-artifacts/*/shrunk-schedule.txt")).read_text()
    assert line in artifact

    pytester.makepyfile(test_pasted=demo.pasted_source(line))  # the user pastes the printed line
    replay = run(pytester, *BUGGY, "test_pasted.py")
    replay.assert_outcomes(failed=1)
    assert "RecoveryError" in replay.stdout.str()
    healthy = run(pytester, "test_pasted.py")  # same schedule, a correct server: the bug was the cause
    healthy.assert_outcomes(passed=1)
