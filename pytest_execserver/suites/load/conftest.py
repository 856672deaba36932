"""Fixtures of the load suite (its option, ``--load-scale``, is registered by the execserver plugin)."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_execserver.suites.load.options import STORM_PROPERTY, load_scale, scaled


@pytest.fixture
def load_clients(request: pytest.FixtureRequest) -> int:
    """The case's base client count (``indirect`` parameter, default 8) times ``--load-scale``."""
    return scaled(request.config, int(getattr(request, "param", 8)))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    load_scale(config)  # a bad --load-scale / $EXECSERVER_LOAD_SCALE is a usage error, not one error per case


class _StormLines:
    """The storms' summaries (clients, cuts, recovered, recovery times) at the end of the run."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "call":
            self.lines += [f"{report.nodeid}: {v}" for k, v in report.user_properties if k == STORM_PROPERTY]

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.lines:
            terminalreporter.section("load suite: reconnect storms")
            for line in self.lines:
                terminalreporter.write_line(line)


def pytest_configure(config: pytest.Config) -> None:
    if not config.pluginmanager.has_plugin("execserver-load-storms"):
        config.pluginmanager.register(_StormLines(), "execserver-load-storms")
