"""The drift report (``python -m pytest_execserver.conformance diff A B``) names exactly what changed."""

from __future__ import annotations

import subprocess
import sys


def _drift(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pytest_execserver.conformance", "diff", *args],
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
