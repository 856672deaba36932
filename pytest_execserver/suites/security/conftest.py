"""Options and fixtures of the security suite.

The server under test is ``--execserver-server`` (``ref``, ``codex``, ``ref --inject-bug KIND`` or a
command). Its auth flags, when they are not codex's, are given as templates::

    --security-capability-args "--auth token --token-path {token_file}"   (or none)
    --security-signed-args "--jwt-secret {secret_file} --jwt-iss {issuer} --jwt-aud {audience}"   (or none)
    --security-skew-arg " --jwt-leeway {skew}"   (or none)
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from pytest_execserver.glue.runstate import SETTINGS_KEY
from pytest_execserver.suites.security.options import OPTIONS, template
from pytest_execserver.suites.security.servers import AuthTemplates, SecurityServers


@pytest.fixture(scope="module")
def security_servers(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SecurityServers]:
    """The server under test, started on demand in each auth mode; all stopped when the module ends."""
    settings = request.config.stash[SETTINGS_KEY]
    templates = AuthTemplates(*(template(request.config, flag, default) for flag, default, _ in OPTIONS))
    servers = SecurityServers(tmp_path_factory.mktemp("security"), settings.server_kind,
                              tuple(settings.server_args), templates)
    yield servers
    servers.stop_all()


@pytest.fixture(autouse=True)
def _security_case(request: pytest.FixtureRequest) -> None:
    """Marks this test as a case of the suite, for the summary table."""
    request.node.user_properties.append(("security_case", request.node.name))


class _Summary:
    """One line per case at the end of the run: the case, and whether the server passed it."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.rows: dict[str, str] = {}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        props = dict(report.user_properties)
        if "security_case" in props and (report.when == "call" or not report.passed):
            self.rows[str(props["security_case"])] = "xfail" if hasattr(report, "wasxfail") else report.outcome

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if not self.rows:
            return
        server = self.config.stash[SETTINGS_KEY].server
        terminalreporter.section(f"security: {server}")
        width = max(len(name) for name in self.rows)
        for name, outcome in self.rows.items():
            terminalreporter.write_line(f"{name:{width}}  {outcome}")
        failed = sum(1 for o in self.rows.values() if o == "failed")
        terminalreporter.write_line(f"{len(self.rows) - failed}/{len(self.rows)} cases hold")


def pytest_configure(config: pytest.Config) -> None:
    if not config.pluginmanager.has_plugin("execserver-security-summary"):
        config.pluginmanager.register(_Summary(config), "execserver-security-summary")
