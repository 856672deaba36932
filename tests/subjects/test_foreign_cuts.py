"""A byte-count cut (``disconnect`` with ``after_bytes``) on a client that reports nothing to the history
(a command, codex): the injector sees the cut in the server's journal and lets the reconnect through."""

from __future__ import annotations

import shlex
import sys

import pytest

EXAMPLE = shlex.join([sys.executable, "-m", "pytest_execserver.examples.ws_client"]) + " {url}"

INNER = '''
import pytest
from pytest_execserver.waiting import wait_until

PACED = "i=1; while [ $i -le 40 ]; do seq $(( (i-1)*100+1 )) $(( i*100 )); i=$((i+1)); sleep 0.02; done"

async def test_after_bytes_cut_lifts(exec_subject, exec_proxy):
    exec_proxy.disconnect(mode="reset", after_bytes=8 * 1024)
    outcome = await exec_subject.run_argv(["sh", "-c", PACED], timeout_ms=15000)
    assert outcome.error is None, outcome.error
    assert outcome.stdout == "".join(f"{i}\\n" for i in range(1, 4001)).encode()
    records = exec_subject.journal_records()
    assert sum(1 for r in records if r.get("kind") == "conn_open") == 2, "not exactly one cut"
    await wait_until(lambda: not exec_proxy.injector._active, 2, "the cutting toxic removed")
'''


def test_an_after_bytes_cut_lifts_for_a_foreign_client(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_inner=INNER)
    pytester.makeini("[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n")
    result = pytester.runpytest_subprocess("-p", "execserver", "-p", "no:cacheprovider", "--execserver-client",
                                           EXAMPLE, timeout=120)
    result.assert_outcomes(passed=1)
