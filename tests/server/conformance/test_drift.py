"""The drift report (``python -m pytest_execserver.suites.conformance.drift diff A B``) names exactly what changed."""

from __future__ import annotations

import subprocess
import sys

import pytest

from pytest_execserver.servers import codex
from pytest_execserver.suites.conformance.drift import diff, settle


def _drift(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pytest_execserver.suites.conformance.drift", "diff", *args],
                          capture_output=True, text=True, timeout=180)


def test_same_server_twice_has_no_drift() -> None:
    done = _drift("ref", "ref", "--only", "initialize_result", "--only", "seq_counter_many_chunks")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines()[0] == "drift: ref (-) -> ref (+), 2 scenarios: no differences"


def test_a_changed_behaviour_is_reported_with_its_observations() -> None:
    done = _drift("ref", "ref --inject-bug drop-chunk", "--only", "initialize_result",
                  "--only", "seq_counter_many_chunks")
    assert done.returncode == 1, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == ("drift: ref (-) -> ref --inject-bug drop-chunk (+), 2 scenarios: 1 changed "
                        "(seq_counter_many_chunks)")
    assert lines[1] == "seq_counter_many_chunks:"
    assert any(line.startswith("  ~ run: output.") for line in lines), lines
    assert "initialize_result:" not in lines


def test_unknown_scenario_is_a_usage_error() -> None:
    done = _drift("ref", "ref", "--only", "no_such_thing")
    assert done.returncode == 2
    assert "unknown scenario(s) no_such_thing" in done.stderr


# What changed from codex 0.169.0 to 0.171.0, as both run from their npm packages (issue 14): the capability
# networkProxyTransparentTcp and error.data.kind on a failed spawn. prependPathDirs is sent by both (a bare
# binary, outside its package, omits it on either release), and executorVersion is each one's own release.
CODEX_0_169_TO_0_171 = [
    "initialize_result:",
    "  ~ initialize: result.environmentInfo.capabilities: +networkProxyTransparentTcp",
    "  ~ environment/info: result.capabilities: +networkProxyTransparentTcp",
    "  ~ environment/info no params: result.capabilities: +networkProxyTransparentTcp",
    "spawn_failures:",
    '  ~ missing executable: error.data added: {"kind": "spawnNotFound"}',
    '  ~ missing cwd: error.data added: {"kind": "spawnNotFound"}',
    '  ~ directory as program: error.data added: {"kind": "spawnPermissionDenied"}',
    '  ~ nul byte in argv: error.data added: {"kind": "spawnFailed"}',
    "  ~ pty program not on the child's PATH: error.data added: {\"kind\": \"spawnFailed\"}",
    '  ~ pty program without a PATH: error.data added: {"kind": "spawnFailed"}',
]


@pytest.mark.timeout(300)
def test_codex_0_169_to_0_171_drift_is_exactly_the_known_changes() -> None:
    for version in ("0.169.0", "0.171.0"):
        try:
            codex.codex_binary(version)
        except codex.CodexUnavailable as exc:
            pytest.skip(f"codex {version} cannot be fetched: {exc}")
    done = _drift("codex@0.169.0", "codex@0.171.0")
    assert done.returncode == 1, done.stdout + done.stderr
    lines = [line for line in done.stdout.splitlines() if not line.startswith("unstable ")]
    assert lines[0].startswith("drift: codex@0.169.0 (-) -> codex@0.171.0 (+), ")
    assert lines[0].endswith(" scenarios: 2 changed (initialize_result, spawn_failures)"), lines[0]
    assert lines[1:] == CODEX_0_169_TO_0_171, done.stdout


def test_the_reference_reproduces_that_drift() -> None:
    done = _drift("ref --codex-version 0.169.0", "ref --codex-version 0.171.0",
                  "--only", "initialize_result", "--only", "spawn_failures")
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stdout.splitlines()[1:] == CODEX_0_169_TO_0_171, done.stdout


def test_a_normalized_key_added_or_removed_is_named() -> None:
    before = ['initialize = {"result": {"environmentInfo": {"executorVersion": "0.0.0"}}}']
    after = ['initialize = {"result": {"environmentInfo": {"executorVersion": "<release>", '
             '"prependPathDirs": "<file-uris>"}}}']
    report = diff({"initialize_result": before}, {"initialize_result": after}, "a", "b")
    assert report[2:] == [
        '  ~ initialize: result.environmentInfo.executorVersion: "0.0.0" -> (normalized: <release>)',
        "  ~ initialize: result.environmentInfo.prependPathDirs added: (normalized: <file-uris>)",
    ]
    assert diff({"s": after}, {"s": before}, "b", "a")[3] == (
        "  ~ initialize: result.environmentInfo.prependPathDirs removed (was (normalized: <file-uris>))")


def test_a_race_in_one_run_is_unstable_not_drift() -> None:
    calm, raced = ["run = [\"exited\", \"closed\"]"], ["run = [\"closed\", \"exited\"]"]
    a, b, unstable = settle({"s": [raced, calm]}, {"s": [calm, calm]})
    assert a == b == {"s": calm} and unstable == ["s"]
    a, b, unstable = settle({"s": [raced, raced]}, {"s": [calm, calm]})
    assert a != b and unstable == []
