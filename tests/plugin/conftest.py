"""Plugin tests: pytester is needed (it cannot be declared with pytest_plugins below the root conftest)."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    if not config.pluginmanager.has_plugin("pytester"):
        config.pluginmanager.import_plugin("pytester")
