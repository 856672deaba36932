"""The checks catch real server bugs: ``execserver-ref --inject-bug KIND`` fails the right invariant."""

from __future__ import annotations

from collections.abc import Callable

import pytest

Inner = Callable[..., pytest.RunResult]  # the `inner` fixture (tests/plugin/conftest.py)

pytestmark = pytest.mark.timeout(90)

# stdout only, paced: every line is its own chunk, so the 1st and 2nd output notifications (the ones
# `--inject-bug reorder` swaps) are on the same stream -- a cross-stream swap would be legitimate.
TEST = '''
SCRIPT = "for i in 1 2 3 4; do echo line$i; sleep 0.05; done"

async def test_run(exec_client, exec_history, exec_scratch):
    handle = await exec_client.start(["/bin/sh", "-c", SCRIPT], cwd=exec_scratch)
    exec_history.expect_output(handle.process_id, stdout=b"line1\\nline2\\nline3\\nline4\\n")
    await handle.wait(2)
'''

CASES = {
    "drop-chunk": (
        {"event-stream": "failed", "legacy-read": "failed"},
        "[[]ordered_output[]] process '*' (client c1): server skipped seq 2 on the wire (seq 3 followed seq 1) "
        "and it was never delivered (server violation)",
    ),
    "duplicate-chunk": (
        {"event-stream": "failed", "legacy-read": "failed"},
        "[[]ordered_output[]] process '*' (client c1): server sent seq 1 twice on the wire (duplicate output; "
        "server violation)",
    ),
    "reorder": (
        {"event-stream": "failed", "legacy-read": "failed"},
        "[[]ordered_output[]] process '*' (client c1): server sent stdout seq 1 after stdout seq 2 on the wire "
        "(reordered within the stdout stream; server violation)",
    ),
    # legacy-read does not depend on the closed notification (process/read still reports closed)
    "lose-closed": (
        {"event-stream": "failed", "legacy-read": "passed"},
        "[[]ordered_output[]] process '*' (client c1): exited (seq 5) delivered at +*ms but closed never "
        "delivered (*ms later) and no error reported, expected closed after exited",
    ),
    "stall-exit": (
        {"event-stream": "failed", "legacy-read": "failed"},
        "[[]transport_reported[]] process '*' started at +*ms neither completed nor failed by the end of the "
        "test (last delivered seq 4, no exited): unbounded wait*",
    ),
}


@pytest.mark.parametrize("bug", list(CASES))
def test_injected_bug_is_caught(inner: Inner, pytester: pytest.Pytester, bug: str) -> None:
    outcomes, message = CASES[bug]
    pytester.makepyfile(TEST)
    result = inner("--execserver-server", f"ref --inject-bug {bug}", "--execserver-mode", "both",
                   "--execserver-toxiproxy", "embedded", "--execserver-artifacts", pytester.path / "arts", "-v")
    for mode, outcome in outcomes.items():
        result.stdout.fnmatch_lines([f"*test_run[[]{mode}[]] {outcome.upper()}*"])
    result.stdout.fnmatch_lines([message])
    failed = sum(1 for o in outcomes.values() if o == "failed")
    result.assert_outcomes(failed=failed, passed=len(outcomes) - failed)
    result.stdout.fnmatch_lines(["*- execserver artifacts -*", "server_log: *server.log"])


def test_clean_server_passes(inner: Inner, pytester: pytest.Pytester) -> None:
    pytester.makepyfile(TEST)
    inner("--execserver-mode", "both", "--execserver-toxiproxy", "embedded").assert_outcomes(passed=2)
