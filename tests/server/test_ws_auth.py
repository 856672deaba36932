"""Differential: every JWT and capability-token case against the reference server and codex 0.171.0.

Both servers start confined with the same auth flags (fresh secrets in their scratch dirs); each case sends
the same upgrade request to both and requires the same verdict -- 101, or the same HTTP status and body --
and that verdict to be the one recorded in the suite's case table (``docs/security.md``). No codex-only
difference was measured on 0.171.0, so there is no xfail here.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_execserver.servers.confine import choose_confinement
from pytest_execserver.servers.launch import ServerStartError, start_server
from pytest_execserver.suites.security.handshake import try_upgrade
from pytest_execserver.suites.security.servers import AuthTemplates, Running, SecurityServers
from pytest_execserver.suites.security.tokens import (
    JWT_CASES,
    AuthCase,
    JwtSetup,
    Verdict,
    claims,
    encode,
    header_cases,
)

CODEX = "codex@0.171.0"
KINDS = ("ref", CODEX)


@pytest.fixture(scope="module")
def pools(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, SecurityServers]]:
    out = {kind: SecurityServers(tmp_path_factory.mktemp(kind.replace("@", "-")), kind, (), AuthTemplates())
           for kind in KINDS}
    yield out
    for pool in out.values():
        pool.stop_all()


async def _send(running: Running, case: AuthCase, credential: str) -> Verdict:
    header = case.header(running.jwt or JwtSetup(secret=""))
    headers = {} if header is None else {"Authorization": header.replace("{token}", credential)}
    return await try_upgrade(running.server.url, headers, case.query.replace("{token}", credential))


def _good_jwt(running: Running) -> str:
    assert running.jwt is not None
    return encode(claims(running.jwt), running.jwt.secret)


@pytest.mark.codex
@pytest.mark.parametrize("case", JWT_CASES + header_cases(lambda s: encode(claims(s), s.secret)), ids=lambda c: c.name)
async def test_signed_bearer_same_verdict_as_codex(case: AuthCase, pools: dict[str, SecurityServers]) -> None:
    verdicts = {}
    for kind in KINDS:
        running = pools[kind].signed()
        verdicts[kind] = await _send(running, case, _good_jwt(running))
    assert verdicts["ref"] == verdicts[CODEX] == case.expected, {k: str(v) for k, v in verdicts.items()}


CAPABILITY_CASES = (
    AuthCase("right-token", lambda s: "Bearer {token}", Verdict(101)),
    AuthCase("wrong-token", lambda s: "Bearer nope", Verdict(401, "invalid websocket bearer token")),
    *header_cases(lambda s: "{token}"),
)


@pytest.mark.codex
@pytest.mark.parametrize("case", CAPABILITY_CASES, ids=lambda c: c.name)
async def test_capability_token_same_verdict_as_codex(case: AuthCase, pools: dict[str, SecurityServers]) -> None:
    verdicts = {}
    for kind in KINDS:
        running = pools[kind].capability()
        assert running.token is not None
        verdicts[kind] = await _send(running, case, running.token)
    assert verdicts["ref"] == verdicts[CODEX] == case.expected, {k: str(v) for k, v in verdicts.items()}


@pytest.mark.codex
@pytest.mark.parametrize(("skew_s", "exp_delta"), [(0, -10), (0, 60), (300, -120), (300, -600)])
async def test_configured_skew_same_verdict_as_codex(skew_s: int, exp_delta: int,
                                                     pools: dict[str, SecurityServers]) -> None:
    verdicts = {}
    for kind in KINDS:
        running = pools[kind].signed(skew_s=skew_s)
        assert running.jwt is not None
        token = encode(claims(running.jwt, exp=int(time.time()) + exp_delta), running.jwt.secret)
        verdicts[kind] = await try_upgrade(running.server.url, {"Authorization": "Bearer " + token})
    accepted = exp_delta + skew_s >= 0
    assert verdicts["ref"] == verdicts[CODEX], {k: str(v) for k, v in verdicts.items()}
    assert verdicts["ref"].accepted == accepted, verdicts


SIGNED = ["--ws-auth", "signed-bearer-token", "--ws-shared-secret-file", "{s}/secret"]
STARTUP_ERRORS = {
    "no-secret-file": (["--ws-auth", "signed-bearer-token"], {}),
    "short-secret": (SIGNED, {"secret": "s" * 31}),
    "empty-secret": (SIGNED, {"secret": " \n"}),
    "missing-secret": (["--ws-auth", "signed-bearer-token", "--ws-shared-secret-file", "{s}/nope"], {}),
    "token-file-in-signed-mode": (["--ws-auth", "signed-bearer-token", "--ws-shared-secret-file", "{s}/secret",
                                   "--ws-token-file", "{s}/secret"], {"secret": "s" * 64}),
    "issuer-in-capability-mode": (["--ws-auth", "capability-token", "--ws-token-file", "{s}/secret",
                                   "--ws-issuer", "x"], {"secret": "s" * 64}),
    "audience-without-mode": (["--ws-audience", "x"], {}),
    "skew-over-i64": (["--ws-auth", "signed-bearer-token", "--ws-shared-secret-file", "{s}/secret",
                       "--ws-max-clock-skew-seconds", str(2**64 - 1)], {"secret": "s" * 64}),
}


def _startup_error(kind: str, base: Path, args: list[str], files: dict[str, str]) -> str:
    scratch = base / kind.replace("@", "-") / "scratch"
    scratch.mkdir(parents=True)
    for name, text in files.items():
        (scratch / name).write_text(text)
    with pytest.raises(ServerStartError):
        start_server(kind, scratch, confinement=choose_confinement(), timeout_s=15,
                     extra_args=[a.replace("{s}", str(scratch)) for a in args])
    log = (scratch.parent / "scratch.server.log").read_text(errors="replace")
    lines = [line for line in log.splitlines() if line.startswith("Error:")]
    assert lines, log[-500:]
    return lines[-1].replace(str(scratch), "SCRATCH")


@pytest.mark.codex
@pytest.mark.parametrize("name", sorted(STARTUP_ERRORS))
def test_bad_auth_flags_same_startup_error_as_codex(name: str, tmp_path: Path) -> None:
    args, files = STARTUP_ERRORS[name]
    errors = {kind: _startup_error(kind, tmp_path, args, files) for kind in KINDS}
    assert errors["ref"] == errors[CODEX], errors
