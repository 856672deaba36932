"""Fixtures of the load suite (its option, ``--load-scale``, is registered by the execserver plugin)."""

from __future__ import annotations

import pytest

from pytest_execserver.suites.load.options import load_scale, scaled


@pytest.fixture
def load_clients(request: pytest.FixtureRequest) -> int:
    """The case's base client count (``indirect`` parameter, default 8) times ``--load-scale``."""
    return scaled(request.config, int(getattr(request, "param", 8)))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    load_scale(config)  # a bad --load-scale / $EXECSERVER_LOAD_SCALE is a usage error, not one error per case
