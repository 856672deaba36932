"""Our tests run the shipped chaos suite (``pytest --pyargs pytest_execserver.suites.chaos``) -- no second
copy: it passes on our client in both modes and on the example adapter, and fails on each wrong client with
the account of the check that caught it."""

from __future__ import annotations

import json
import re
import shlex
import sys
from pathlib import Path

import pytest

from pytest_execserver.subjects.checks import CHECKS

HERE = Path(__file__).resolve().parent
EXAMPLE = shlex.join([sys.executable, "-m", "pytest_execserver.examples.ws_client"]) + " {url}"

pytestmark = pytest.mark.timeout(600)


def _suite(pytester: pytest.Pytester, client: str, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess("-p", "execserver", "-p", "no:cacheprovider", "--pyargs",
                                         "pytest_execserver.suites.chaos", "--execserver-client", client, *args,
                                         timeout=600)


@pytest.mark.parametrize("client", ["ours:legacy-read", EXAMPLE], ids=["ours-legacy-read", "example"])
def test_chaos_suite_passes(pytester: pytest.Pytester, client: str) -> None:
    # a command runs the matrix for any client; ours also runs its own matrix (chaos/ours, in tests/chaos)
    result = _suite(pytester, client, "-k", "not ours")
    result.assert_outcomes(passed=33)


def test_chaos_suite_for_a_command_leaves_out_our_clients_matrix(pytester: pytest.Pytester) -> None:
    assert "33 tests collected" in _suite(pytester, EXAMPLE, "--collect-only", "-q").stdout.str()
    assert "95 tests collected" in _suite(pytester, "ours", "--collect-only", "-q").stdout.str()


@pytest.mark.parametrize(
    ("bug", "select", "account"),
    [
        ("drop-chunk", "test_latency and rtt100", "*[[]delivered_output[]] run *, process 'ws-*': delivered stdout "
                                                  "differs from what the process emitted*"),
        ("restart-on-reconnect", "test_cut_mid_stream_recovers and reset", "*[[]started_once[]] run 1 *process/start "
                                                                           "sent 2 times after a reconnect*"),
        ("new-session", "test_cut_mid_stream_recovers and reset", "*[[]resumed_session[]] connection * instead of "
                                                                  "resuming (initialize with resumeSessionId)"),
        ("rewrite-stdin", "test_cut_mid_stream_recovers and reset", "*[[]writes_idempotent[]] process 'ws-*': the "
                                                                    "same stdin chunk (* bytes) was written again*"),
        ("hang", "test_long_outage_is_reported", "*[[]reported_in_time[]] run 1: client * hung: no reply to request 1 "
                                                 "(*) within 8.0 s (its timeout_ms 3000 + the harness's margin 5 s)"),
        ("retry-start", "test_lost_start_response_runs_once", "*[[]started_once[]] run 1 *process/start sent 2 "
                                                              "times*(a start whose answer was lost must be checked "
                                                              "with process/read, never re-sent)"),
        # session lost: a resume the restarted server refused is terminal, not retried until the window ends
        ("retry-resume", "test_server_restart_is_reported_as_session_lost",
         "*[[]session_lost_reported[]] run 1 *the session was lost to a server restart, but the client reported it "
         "* s after the restarted server was first asked to resume the session (* resume attempts), over the test's "
         "bound 3 s*"),
        # bounded memory: 64 MiB of oversized chunks for a process nobody started, all kept
        ("hoard", "test_hostile_frames_fail_only_their_process and oversized",
         "*[[]bounded_memory[]] run 2 *the client's resident memory of the client's processes peaked at * MiB, * MiB "
         "over its peak in the earlier runs (* MiB): the test's bound is 32.0 MiB"),
        # a frame about a process nobody started must not fail the client's own process
        ("strict-session", "test_hostile_frames_fail_only_their_process and flood",
         "*the client reported ProtocolError: the server sent process/output for unknown process 'no-such-process'*"),
    ],
)
def test_chaos_suite_fails_on_a_wrong_client(pytester: pytest.Pytester, bug: str, select: str, account: str) -> None:
    client = shlex.join([sys.executable, str(HERE / "wrong_clients.py"), bug]) + " {url}"
    result = _suite(pytester, client, "-k", select, "--execserver-report", "report.json")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([account])
    # the JSON report names the client and carries every check, the broken one with its account
    tests = json.loads((pytester.path / "report.json").read_text())["tests"]
    (failed,) = [t for t in tests if t["outcome"] == "failed"]
    checks = failed["client"]["checks"]
    assert sorted(checks) == sorted(CHECKS) and failed["client"]["name"] == client
    named = re.search(r"\[\[\]([a-z_]+)\[\]\]", account)  # "*[[]name[]]*": a client check caught it
    if named is not None:
        assert checks[named.group(1)], checks  # (a wrong client may break more than one check)
