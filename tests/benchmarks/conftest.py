"""Prints the A/B table at the end of a benchmark session."""

from __future__ import annotations

import pytest

from .ab_table import RESULTS, ab_table_lines


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not RESULTS:
        return
    terminalreporter.section("one-shot completion A/B: legacy-read (baseline) vs event-stream")
    for line in ab_table_lines(RESULTS):
        terminalreporter.write_line(line)
