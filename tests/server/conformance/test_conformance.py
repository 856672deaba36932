"""The shipped conformance suite (``pytest_execserver.suites.conformance``) run here on both servers, plus
the differential test between them. No scenario lives here: they are the package's.

* ``test_scenario[<kind>-<name>]``: one scenario against ``execserver-ref`` or real ``codex exec-server``,
  every observation checked against the codex-observed expectation.
* ``test_pairwise[<name>]``: both servers, normalized transcripts compared; the only tolerated
  differences are listed in ``pytest_execserver/suites/conformance/differences.py``.
"""

from __future__ import annotations

import asyncio
import difflib
import json
from collections.abc import Iterator
from typing import Any

import pytest

from pytest_execserver.suites.conformance.servers import KINDS, ServerPool, new_ctx
from pytest_execserver.suites.conformance.test_conformance import NAMES, run_scenario

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def server_pool(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerPool]:
    pool = ServerPool(tmp_path_factory.mktemp("conformance"))
    yield pool
    pool.stop_all()


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("kind", KINDS)
async def test_scenario(kind: str, name: str, server_pool: ServerPool) -> None:
    ctx = new_ctx(server_pool, kind, name, strict=True)
    await run_scenario(ctx, name)
    ctx.finish()


def _lines(transcript: list[tuple[str, Any]]) -> list[str]:
    return [f"{key} = {json.dumps(value, sort_keys=True, default=str)}" for key, value in transcript]


@pytest.mark.parametrize("name", NAMES)
async def test_pairwise(name: str, server_pool: ServerPool) -> None:
    ctxs = {kind: new_ctx(server_pool, kind, name, strict=False) for kind in ("codex", "ref")}
    outcomes = await asyncio.gather(*(run_scenario(ctx, name) for ctx in ctxs.values()), return_exceptions=True)
    errors = {kind: outcome for kind, outcome in zip(ctxs, outcomes, strict=True) if isinstance(outcome, BaseException)}
    if errors:
        detail = "; ".join(f"{kind}: {type(e).__name__}: {e}" for kind, e in errors.items())
        raise AssertionError(f"scenario {name} did not complete: {detail}")
    codex_lines = _lines(ctxs["codex"].transcript)
    ref_lines = _lines(ctxs["ref"].transcript)
    if codex_lines != ref_lines:
        diff = "\n".join(difflib.unified_diff(codex_lines, ref_lines, "codex", "ref", lineterm="", n=1))
        raise AssertionError(f"normalized transcripts differ (- codex, + ref):\n{diff}")
