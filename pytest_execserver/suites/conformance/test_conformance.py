"""Conformance: every scenario against the server under test (``--execserver-server``), each observation
compared with what codex exec-server does (the expected values in ``scenarios.py``).

    pytest --pyargs pytest_execserver.suites.conformance --execserver-server "my-server --listen {listen}"

The run ends with a table: each behaviour, and whether the server matches codex on it.
"""

from __future__ import annotations

import pytest

from pytest_execserver.suites.conformance.harness import Ctx
from pytest_execserver.suites.conformance.scenarios import SCENARIOS
from pytest_execserver.suites.conformance.servers import ServerPool, new_ctx
from pytest_execserver.suites.conformance.table import CODEX_VERSION

pytestmark = pytest.mark.asyncio

NAMES = sorted(SCENARIOS)


async def run_scenario(ctx: Ctx, name: str) -> None:
    """Run one scenario on ``ctx``; its connections are closed whatever happens."""
    try:
        await SCENARIOS[name](ctx)
    finally:
        await ctx.close_all()


@pytest.mark.parametrize("name", NAMES)
async def test_scenario(name: str, server_pool: ServerPool, server_under_test: tuple[str, tuple[str, ...]],
                        request: pytest.FixtureRequest) -> None:
    request.node.user_properties.append(("conformance_behaviour", name))
    kind, args = server_under_test
    ctx = new_ctx(server_pool, kind, name, strict=True, args=args)
    # the codex release whose behaviour the expectations describe (a harness that knows it says so)
    request.node.user_properties.append(("conformance_codex", getattr(ctx, "version", "") or CODEX_VERSION))
    await run_scenario(ctx, name)
    request.node.user_properties.append(("conformance_mismatches", len(ctx.mismatches)))
    ctx.finish()
