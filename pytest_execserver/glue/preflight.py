"""Before any test: the server and the client under test that the run names can be had, or the run stops once.

A codex release is fetched here, once, on the controller (workers find it cached), saying what it does: a
first download takes 10 to 20 s. When it cannot be had (no npm, a release that does not exist), the session
stops at once with npm's own message and the releases that exist, so a typo never turns into a green run of
skipped tests. ``--execserver-skip-unavailable`` asks for the old behaviour: the tests that need it skip,
with the reason, and nothing is tried again.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from pytest_execserver.glue.runstate import SETTINGS_KEY

UNAVAILABLE_KEY: pytest.StashKey[dict[str, str]] = pytest.StashKey()


def unavailable(config: pytest.Config, role: str) -> str | None:
    """Why the ``role`` (``server`` or ``client``) under test cannot be had, when the run skips such tests."""
    return config.stash.get(UNAVAILABLE_KEY, {}).get(role)


def preflight_codex(config: pytest.Config, role: str, spec: str) -> None:
    """Make sure codex ``spec`` (``codex`` or ``codex@VERSION``) is runnable before any test needs it."""
    if getattr(config, "workerinput", None) is not None:
        return  # the controller fetched it (or stopped the run)
    from pytest_execserver.servers.codex import CodexUnavailable, cache_dir, codex_binary

    version = spec.partition("@")[2] or None
    try:
        codex_binary(version, fetch=False)
        return
    except CodexUnavailable:
        pass
    except ValueError as exc:
        raise pytest.UsageError(f"the {role} under test {spec!r}: {exc}") from None
    say = _writer(config)
    say(f"execserver: fetching {spec} for the {role} under test with npm (once; cached in {cache_dir()}) ...")
    started = time.monotonic()
    try:
        path = codex_binary(version)
    except CodexUnavailable as exc:
        message = f"the {role} under test {spec!r} cannot be had: {exc}"
        if config.stash[SETTINGS_KEY].skip_unavailable:
            config.stash.setdefault(UNAVAILABLE_KEY, {})[role] = message
            say(f"execserver: {message}; the tests that need it skip (--execserver-skip-unavailable)")
            return
        raise pytest.UsageError(
            f"{message}\n(--execserver-skip-unavailable skips the tests that need it instead)"
        ) from None
    size = sum(p.stat().st_size for p in path.parents[1].rglob("*") if p.is_file())
    say(f"execserver: fetched {spec} ({size / 1e6:.0f} MB) in {time.monotonic() - started:.1f} s: {path}")


def _writer(config: pytest.Config) -> Callable[[str], None]:
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        return lambda line: reporter.write_line(line)
    return lambda line: print(line, flush=True)

