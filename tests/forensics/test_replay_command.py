"""What a replay subprocess inherits from the original invocation (:mod:`pytest_execserver.shrink.replay`)."""

from __future__ import annotations

from pytest_execserver.shrink.replay import passed_on


def test_plugins_and_ini_overrides_are_passed_on_and_nothing_else() -> None:
    args = ["-p", "no:cacheprovider", "-pxdist", "-o", "asyncio_mode=auto", "--override-ini=timeout=5",
            "-k", "stream", "-x", "tests/t.py", "--execserver-shrink"]
    assert passed_on(args) == ["-p", "no:cacheprovider", "-p", "xdist", "-o", "asyncio_mode=auto",
                               "-o", "timeout=5"]
