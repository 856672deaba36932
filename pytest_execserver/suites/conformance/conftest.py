"""Fixtures of the conformance suite, and the table it ends with: each behaviour, and whether the server
under test matches codex on it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from pytest_execserver.glue.runstate import SETTINGS_KEY
from pytest_execserver.suites.conformance.servers import ServerPool
from pytest_execserver.suites.conformance.table import CODEX_VERSION, Table


@pytest.fixture(scope="module")
def server_pool(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerPool]:
    pool = ServerPool(tmp_path_factory.mktemp("conformance"))
    yield pool
    pool.stop_all()


@pytest.fixture
def server_under_test(request: pytest.FixtureRequest) -> tuple[str, tuple[str, ...]]:
    """(kind, extra args) of ``--execserver-server``: ``ref``, ``codex`` or a command."""
    settings = request.config.stash[SETTINGS_KEY]
    return settings.server_kind, tuple(settings.server_args)


class _TableReporter:
    """Collects each scenario's outcome; prints the table at the end of the run."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.table = Table()
        self.codex: set[str] = set()

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        props = dict(report.user_properties)
        if "conformance_codex" in props:
            self.codex.add(str(props["conformance_codex"]))
        if "conformance_behaviour" in props and (report.when == "call" or not report.passed):
            self.table.add(str(props["conformance_behaviour"]), report.outcome, props.get("conformance_mismatches"))

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if not self.table.rows:
            return
        server = self.config.stash[SETTINGS_KEY].server
        releases = ", ".join(sorted(self.codex)) or CODEX_VERSION
        terminalreporter.section(f"conformance: {server} vs codex {releases}")
        for line in self.table.lines():
            terminalreporter.write_line(line)


def pytest_configure(config: pytest.Config) -> None:
    if not config.pluginmanager.has_plugin("execserver-conformance-table"):
        config.pluginmanager.register(_TableReporter(config), "execserver-conformance-table")
