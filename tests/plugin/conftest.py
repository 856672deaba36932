"""Plugin tests: ``inner`` runs a pytest session with the plugin and the project's asyncio mode (pytester is
declared in the root conftest)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import pytest_execserver.faults.kinds

# The plugin imports these lazily (on first use of the harness); import them here, once, so in-process
# pytester runs (which drop the modules first imported during the run) all see the same classes.
import pytest_execserver.glue.collection
import pytest_execserver.glue.evaluate
import pytest_execserver.glue.load_run
import pytest_execserver.glue.load_state
import pytest_execserver.glue.markers  # noqa: F401

INI = """
[pytest]
asyncio_mode = auto
asyncio_default_fixture_loop_scope = function
filterwarnings =
    ignore::pytest.PytestAssertRewriteWarning
"""


# plugins the inner sessions do not need (each costs time per in-process run)
_LEAN = ["-p", "no:cacheprovider", "-p", "no:benchmark", "-p", "no:hypothesispytest", "--assert=plain"]

Inner = Callable[..., pytest.RunResult]


@pytest.fixture
def inner(pytester: pytest.Pytester) -> Inner:
    """``inner(*args, subprocess=False)``: run pytest with ``-p execserver`` in ``pytester``'s directory."""
    pytester.makeini(INI)

    def run(*args: Any, subprocess: bool = False, ini: str | None = None) -> pytest.RunResult:
        if ini is not None:
            pytester.makeini(INI + ini)
        argv = ["-p", "execserver", *_LEAN, *[str(a) for a in args]]
        if subprocess:
            return pytester.runpytest_subprocess(*argv, timeout=120)
        return pytester.runpytest(*argv)

    return run
