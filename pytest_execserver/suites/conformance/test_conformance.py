"""Differential conformance: every scenario against ``execserver-ref`` and real ``codex exec-server``.

* ``test_scenario[<kind>-<name>]`` runs one scenario against one server and checks every observation
  against the codex-observed expectation written in ``scenarios.py``.
* ``test_pairwise[<name>]`` runs the scenario against both servers and compares the normalized
  transcripts; the only tolerated differences are listed in ``differences.py``.

Run: ``.venv/bin/pytest tests/server/conformance`` (``-k codex`` / ``-k ref`` for one server).
"""

from __future__ import annotations

import asyncio
import difflib
import json
from typing import Any

import pytest

from .conftest import KINDS, ServerPool, new_ctx
from .harness import Ctx
from .scenarios import SCENARIOS

pytestmark = pytest.mark.timeout(60)

NAMES = sorted(SCENARIOS)


async def _run(ctx: Ctx, name: str) -> None:
    try:
        await SCENARIOS[name](ctx)
    finally:
        await ctx.close_all()


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("kind", KINDS)
async def test_scenario(kind: str, name: str, server_pool: ServerPool) -> None:
    ctx = new_ctx(server_pool, kind, name, strict=True)
    await _run(ctx, name)
    ctx.finish()


def _lines(transcript: list[tuple[str, Any]]) -> list[str]:
    return [f"{key} = {json.dumps(value, sort_keys=True, default=str)}" for key, value in transcript]


@pytest.mark.parametrize("name", NAMES)
async def test_pairwise(name: str, server_pool: ServerPool) -> None:
    ctxs = {kind: new_ctx(server_pool, kind, name, strict=False) for kind in ("codex", "ref")}
    outcomes = await asyncio.gather(*(_run(ctx, name) for ctx in ctxs.values()), return_exceptions=True)
    errors = {kind: outcome for kind, outcome in zip(ctxs, outcomes, strict=True) if isinstance(outcome, BaseException)}
    if errors:
        detail = "; ".join(f"{kind}: {type(e).__name__}: {e}" for kind, e in errors.items())
        raise AssertionError(f"scenario {name} did not complete: {detail}")
    codex_lines = _lines(ctxs["codex"].transcript)
    ref_lines = _lines(ctxs["ref"].transcript)
    if codex_lines != ref_lines:
        diff = "\n".join(difflib.unified_diff(codex_lines, ref_lines, "codex", "ref", lineterm="", n=1))
        raise AssertionError(f"normalized transcripts differ (- codex, + ref):\n{diff}")
