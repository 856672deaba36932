"""A first run of a shipped suite in an empty folder prints no warning the user did not cause (issue 24)."""

from __future__ import annotations

import pytest

SUITE = ("--pyargs", "pytest_execserver.suites.conformance", "-k", "frame_shape", "-p", "no:cacheprovider")


def test_shipped_suite_in_an_empty_folder_prints_no_warning(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess(*SUITE, timeout=300)
    result.assert_outcomes(passed=1)
    output = result.stdout.str() + result.stderr.str()
    assert "Warning:" not in output and "warnings summary" not in output, output


def test_a_project_with_a_config_file_still_hears_from_pytest_asyncio(pytester: pytest.Pytester) -> None:
    """The filter applies only where the user configured nothing: their own project keeps the deprecation."""
    pytester.makeini("[pytest]\n")
    result = pytester.runpytest_subprocess(*SUITE, timeout=300)
    result.assert_outcomes(passed=1)
    assert "asyncio_default_fixture_loop_scope" in result.stdout.str() + result.stderr.str()
