"""The shipped conformance suite (``pytest_execserver.suites.conformance``) run here on both servers, plus
the differential test between them. No scenario lives here: they are the package's.

* ``test_scenario[<server>-<name>]``: one scenario against ``execserver-ref`` or real ``codex exec-server``,
  of each supported release (the reference with ``--codex-version``), every observation checked against
  what codex of that release does.
* ``test_pairwise[<release>-<name>]``: ``codex@<release>`` and ``ref --codex-version <release>``, normalized
  transcripts compared; the only tolerated differences are listed in
  ``pytest_execserver/suites/conformance/differences.py``.
"""

from __future__ import annotations

import asyncio
import difflib
import json
from collections.abc import Iterator
from typing import Any

import pytest

from pytest_execserver.suites.conformance.harness import SUPPORTED_CODEX_VERSIONS
from pytest_execserver.suites.conformance.servers import ServerPool, new_ctx
from pytest_execserver.suites.conformance.test_conformance import NAMES, run_scenario

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def server_pool(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerPool]:
    pool = ServerPool(tmp_path_factory.mktemp("conformance"))
    yield pool
    pool.stop_all()


OLDER = "0.169.0"  # the release the reference reproduces with --codex-version (the default follows codex)
# id -> (kind, extra args): the default of each, and both pinned to the older release
SERVERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "ref": ("ref", ()),
    "codex": ("codex", ()),
    f"ref@{OLDER}": ("ref", ("--codex-version", OLDER)),
    f"codex@{OLDER}": (f"codex@{OLDER}", ()),
}


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("server", SERVERS)
async def test_scenario(server: str, name: str, server_pool: ServerPool) -> None:
    kind, args = SERVERS[server]
    ctx = new_ctx(server_pool, kind, name, strict=True, args=args)
    assert ctx.version == (OLDER if "@" in server else ctx.version), f"{server} judged as codex {ctx.version}"
    await run_scenario(ctx, name)
    ctx.finish()


def _lines(transcript: list[tuple[str, Any]]) -> list[str]:
    return [f"{key} = {json.dumps(value, sort_keys=True, default=str)}" for key, value in transcript]


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("release", SUPPORTED_CODEX_VERSIONS)
async def test_pairwise(release: str, name: str, server_pool: ServerPool) -> None:
    ctxs = {
        "codex": new_ctx(server_pool, f"codex@{release}", name, strict=False),
        "ref": new_ctx(server_pool, "ref", name, strict=False, args=("--codex-version", release)),
    }
    assert ctxs["codex"].version == ctxs["ref"].version == release, {k: c.version for k, c in ctxs.items()}
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


async def test_expectations_follow_the_release(server_pool: ServerPool) -> None:
    """Judged as 0.169.0, a server with 0.171.0's behaviour fails exactly where the releases differ."""
    ctxs = {name: new_ctx(server_pool, "ref", name, strict=True, args=("--codex-version", "0.171.0"))
            for name in ("initialize_result", "spawn_failures")}
    for name, ctx in ctxs.items():
        ctx.version = OLDER
        await run_scenario(ctx, name)
        with pytest.raises(AssertionError) as failure:
            ctx.finish()
        wrong = "networkProxyTransparentTcp" if name == "initialize_result" else '"data": {"kind": "spawnNotFound"}'
        assert wrong in str(failure.value), failure.value
