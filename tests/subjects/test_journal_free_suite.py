"""The shipped chaos suite against a server with no journal (here the reference server started as a plain
command, so the harness treats it as a user's server): the journal-free checks run, the report says so, and
they fire on a wrong client (a process started twice: the start marker) and on a broken server (a chunk
lost: the workload's expected bytes). A passing journal-free run (codex's executor behind the relay) is
``tests/relay/test_topology.py::test_codex_executor_behind_the_relay_runs_the_suite_journal_free``."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
# the reference server as a user's command: no --journal, so every check is journal-free
REF_AS_COMMAND = shlex.join([sys.executable, "-m", "execserver_ref", "--listen", "{listen}"])

pytestmark = pytest.mark.timeout(300)


def _suite(pytester: pytest.Pytester, client: str, server: str, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess("-p", "execserver", "-p", "no:cacheprovider", "--pyargs",
                                         "pytest_execserver.suites.chaos", "--execserver-client", client,
                                         "--execserver-server", server, "--execserver-report", "report.json",
                                         *args, timeout=300)


def _tests(pytester: pytest.Pytester) -> list[dict[str, object]]:
    tests: list[dict[str, object]] = json.loads((pytester.path / "report.json").read_text())["tests"]
    return tests


def test_a_wrong_client_fails_the_start_marker_check(pytester: pytest.Pytester) -> None:
    """``restart-on-reconnect`` starts the process again after the cut: the marker holds two bytes."""
    client = shlex.join([sys.executable, str(HERE / "wrong_clients.py"), "restart-on-reconnect"]) + " {url}"
    result = _suite(pytester, client, REF_AS_COMMAND, "-k", "test_cut_mid_stream_recovers and reset")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*[[]started_once[]] run 1 (*): its process started 2 times (marker file in "
                                 "scratch, journal-free)*"])
    (failed,) = _tests(pytester)
    client_record = failed["client"]
    assert isinstance(client_record, dict)
    assert client_record["checks"]["started_once"], client_record
    assert set(client_record["journal_free"]["checked"]) == {"delivered_output", "started_once", "reported_in_time",
                                                             "session_lost_reported"}
    assert "resumed_session" in client_record["journal_free"]["not_checked"]


def test_a_broken_server_fails_the_expected_bytes(pytester: pytest.Pytester) -> None:
    """A server that loses the 2nd output chunk of every process: the client's view differs from the
    workload's bytes, with no journal to compare with."""
    server = REF_AS_COMMAND + " --inject-bug drop-chunk"
    result = _suite(pytester, "ours:legacy-read", server, "-k", "not ours and test_slicer and 7-bytes")
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert "seq3000 stdout: first difference at byte" in out or "seq3000: the client reported" in out, out[-3000:]
    (failed,) = _tests(pytester)
    assert "journal_free" in failed["client"]  # type: ignore[operator]

