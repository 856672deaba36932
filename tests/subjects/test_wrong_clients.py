"""Every client check fires: each deliberately wrong client (``wrong_clients.py``) fails a test that the
example adapter passes, with an account naming the process and the bytes, seq, session or deadline."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
EXAMPLE = shlex.join([sys.executable, "-m", "pytest_execserver.examples.ws_client"])

INNER = '''
import pytest

PACED = ("i=1; while [ $i -le 40 ]; do seq $(( (i-1)*150+1 )) $(( i*150 )); echo err-$i >&2; "
         "i=$((i+1)); sleep 0.025; done; exit 3")

async def test_burst(exec_subject):
    await exec_subject.run_argv(["seq", "1", "20000"])

async def test_stdin(exec_subject):
    await exec_subject.run_argv(["head", "-c", "5"], stdin=b"hello")

@pytest.mark.fault("cut", on="process/output|process/read:response", nth=6)  # a reset mid-stream, by event
async def test_cut(exec_subject):
    await exec_subject.run_argv(["sh", "-c", PACED])

async def test_quick(exec_subject):
    await exec_subject.run_argv(["true"], timeout_ms=1000)

@pytest.mark.fault("drop", on="process/start:response")
async def test_lost_start(exec_subject):
    await exec_subject.run_argv(["seq", "1", "5"], timeout_ms=4000)

@pytest.mark.fault("blackhole", on="process/read:response", nth=2)
async def test_blackhole(exec_subject):
    await exec_subject.run_argv(["sh", "-c", PACED], timeout_ms=1500)
'''


def _run(pytester: pytest.Pytester, client: str, *args: str) -> pytest.RunResult:
    pytester.makepyfile(test_inner=INNER)
    pytester.makeini("[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n")
    return pytester.runpytest_subprocess("-p", "execserver", "-p", "no:cacheprovider", "--execserver-client",
                                         client, *args, timeout=120)


def _wrong(bug: str) -> str:
    return shlex.join([sys.executable, str(HERE / "wrong_clients.py"), bug]) + " {url}"


def test_example_adapter_passes_every_scenario(pytester: pytest.Pytester) -> None:
    result = _run(pytester, EXAMPLE + " {url}")
    result.assert_outcomes(passed=6)


@pytest.mark.parametrize(
    ("bug", "test", "account"),
    [
        ("drop-chunk", "test_burst", ["*[[]delivered_output[]] run 1, process 'ws-*': delivered stdout differs from "
                                      "what the process emitted (journal): first difference at byte * (in the chunk "
                                      "with seq 2); delivered * bytes*, emitted 108894 bytes*"]),
        ("restart-on-reconnect", "test_cut", ["*[[]started_once[]] run 1 (sh -c *): process/start sent 2 times after "
                                              "a reconnect for one run: 'ws-*' on connection * at +*ms; 'ws-*' on "
                                              "connection * at +*ms*"]),
        ("new-session", "test_cut", ["*[[]resumed_session[]] connection * (dropped at +*ms) had session * with "
                                     "process(es) 'ws-*' still running, but the client opened a new session * on "
                                     "connection * instead of resuming (initialize with resumeSessionId)"]),
        ("rewrite-stdin", "test_stdin", ["*[[]writes_idempotent[]] process 'ws-*': the same stdin chunk (5 bytes) was "
                                         "written again on connection * with writeId '*-again' (first: '*' on "
                                         "connection *): a replay must reuse the writeId"]),
        ("hang", "test_quick", ["*[[]reported_in_time[]] run 1: client * hung: no reply to request 1 (true) within "
                                "6.0 s (its timeout_ms 1000 + the harness's margin 5 s)"]),
        # outcome unknown: a lost process/start answer must be checked, never re-sent (the journal proves it)
        ("retry-start", "test_lost_start", ["*[[]started_once[]] run 1 (seq 1 5): process/start sent 2 times*for "
                                            "one run: 'ws-*' on connection *; 'ws-*-again' on connection *"]),
        # liveness: a connection blackholed mid-stream must be noticed within the run's deadline
        ("no-liveness", "test_blackhole", ["*[[]reported_in_time[]] run 1: client * hung: no reply to request 1 "
                                           "(sh -c *) within 6.5 s (its timeout_ms 1500 + the harness's margin 5 s)"]),
    ],
)
def test_wrong_client_fails_with_an_account(pytester: pytest.Pytester, bug: str, test: str,
                                            account: list[str]) -> None:
    result = _run(pytester, _wrong(bug), "-k", test)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(account)
