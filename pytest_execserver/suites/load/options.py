"""The load suite's command-line option (registered by the execserver plugin, so it is known before
``--pyargs`` finds the suite's conftest; nothing heavy is imported here)."""

from __future__ import annotations

import os

import pytest

SCALE_ENV = "EXECSERVER_LOAD_SCALE"
MAX_SCALE = 64.0
STORM_PROPERTY = "load_storm"  # the user property a storm case leaves its summary in


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup("execserver-load", "load suite (pytest --pyargs pytest_execserver.suites.load)")
    group.addoption("--load-scale", default=None, type=float, metavar="FACTOR",
                    help=f"multiply the load suite's client counts by FACTOR (default 1, or ${SCALE_ENV}); "
                         "e.g. 16 for the 64-client storm of issue 23")


def load_scale(config: pytest.Config) -> float:
    """``--load-scale``, else ``$EXECSERVER_LOAD_SCALE``, else 1; a bad value is a usage error."""
    value = config.getoption("--load-scale", None)
    where = "--load-scale"
    if value is None:
        raw = os.environ.get(SCALE_ENV)
        if raw is None or not raw.strip():
            return 1.0
        where = f"${SCALE_ENV}"
        try:
            value = float(raw)
        except ValueError:
            raise pytest.UsageError(f"{where}: not a number: {raw!r}") from None
    if not 0 < float(value) <= MAX_SCALE:
        raise pytest.UsageError(f"{where}: must be in (0, {MAX_SCALE:g}], got {value!r}")
    return float(value)


def scaled(config: pytest.Config, n: int) -> int:
    """``n`` clients times the scale (at least 1)."""
    return max(1, round(n * load_scale(config)))
