"""The shipped conformance suite runs from any directory with ``--pyargs``, against a server given as a
command (``{listen}`` replaced), and ends with its table -- which shows a deviating server as not matching."""

from __future__ import annotations

import shlex
import sys

import pytest

from pytest_execserver.servers import codex


def _run(pytester: pytest.Pytester, server: str, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess("-p", "execserver", "-p", "no:cacheprovider", "--pyargs",
                                         "pytest_execserver.suites.conformance", "--execserver-server", server,
                                         *args, timeout=300)


def test_command_server_with_listen_placeholder_matches_codex(pytester: pytest.Pytester) -> None:
    command = shlex.join([sys.executable, "-m", "execserver_ref"]) + " --listen {listen}"
    result = _run(pytester, command, "-k", "initialize_result or pipes_stdout_stderr_exit or session_resume_output")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["*conformance: * --listen {listen} vs codex 0.171.0*",
                                 "pipes_stdout_stderr_exit * yes", "3/3 behaviours match codex"])


def test_table_names_the_behaviours_a_server_gets_wrong(pytester: pytest.Pytester) -> None:
    result = _run(pytester, "ref --inject-bug drop-chunk", "-k", "seq_counter_many_chunks or initialize_result")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["initialize_result * yes", "seq_counter_many_chunks * NO (* differ*)",
                                 "1/2 behaviours match codex"])


def test_codex_release_is_judged_as_that_release(pytester: pytest.Pytester) -> None:
    try:
        codex.codex_binary("0.169.0")
    except codex.CodexUnavailable as exc:
        pytest.skip(f"codex 0.169.0 cannot be fetched: {exc}")
    result = _run(pytester, "codex@0.169.0", "-k", "spawn_failures or initialize_result")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*conformance: codex@0.169.0 vs codex 0.169.0*", "initialize_result * yes",
                                 "spawn_failures * yes", "2/2 behaviours match codex"])


def test_reference_pinned_to_the_older_release_matches_it(pytester: pytest.Pytester) -> None:
    command = shlex.join([sys.executable, "-m", "execserver_ref"]) + " --codex-version 0.169.0 --listen {listen}"
    result = _run(pytester, command, "-k", "spawn_failures or initialize_result")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*conformance: * --listen {listen} vs codex 0.169.0*", "2/2 behaviours match codex"])

