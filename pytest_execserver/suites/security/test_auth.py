"""Who may connect: the capability token and the signed JWT bearer token, case by case.

Each case sends one upgrade request and compares the answer (101, or the HTTP status and body) with what
codex exec-server 0.171.0 answers. A rejected case that is accepted is the finding that matters; a
different 401 body is reported too (a client shows it to its user).
"""

from __future__ import annotations

import time

import pytest

from pytest_execserver.suites.security.handshake import try_upgrade
from pytest_execserver.suites.security.servers import Running, SecurityServers
from pytest_execserver.suites.security.tokens import (
    ACCEPTED,
    JWT_CASES,
    AuthCase,
    JwtSetup,
    Verdict,
    claims,
    encode,
    header_cases,
    rejected,
)

pytestmark = pytest.mark.asyncio

CAPABILITY_CASES: tuple[AuthCase, ...] = (
    AuthCase("right-token", lambda s: "Bearer {token}", ACCEPTED),
    AuthCase("right-token-lower-case-bearer", lambda s: "bearer {token}", ACCEPTED),
    AuthCase("wrong-token", lambda s: "Bearer wrong-token", rejected("invalid websocket bearer token")),
    AuthCase("token-with-extra-character", lambda s: "Bearer {token}x", rejected("invalid websocket bearer token")),
    AuthCase("token-prefix", lambda s: "Bearer {token_prefix}", rejected("invalid websocket bearer token")),
    *header_cases(lambda s: "{token}"),
)
SIGNED_HEADER_CASES = header_cases(lambda s: encode(claims(s), s.secret))


def _fill(text: str, token: str) -> str:
    return text.replace("{token_prefix}", token[:-1]).replace("{token}", token)


async def _verdict(running: Running, case: AuthCase, credential: str) -> tuple[Verdict, str]:
    setup = running.jwt or JwtSetup(secret="")
    header = case.header(setup)
    headers = {} if header is None else {"Authorization": _fill(header, credential)}
    verdict = await try_upgrade(running.server.url, headers, _fill(case.query, credential))
    sent = "no Authorization header" if header is None else f"Authorization: {headers['Authorization'][:60]!r}"
    return verdict, f"{sent}{' and ' + case.query if case.query else ''}"


def _account(case: AuthCase, verdict: Verdict, sent: str) -> str:
    what = "ACCEPTED a request it must reject" if verdict.accepted and not case.expected.accepted else "answered"
    return (f"{case.name}: the server {what}: {verdict} for {sent}; codex 0.171.0 answers {case.expected}"
            f"{' (' + case.doc + ')' if case.doc else ''}")


@pytest.mark.parametrize("case", CAPABILITY_CASES, ids=lambda c: c.name)
async def test_capability_token(case: AuthCase, security_servers: SecurityServers) -> None:
    running = security_servers.capability()
    assert running.token is not None
    verdict, sent = await _verdict(running, case, running.token)
    assert verdict == case.expected, _account(case, verdict, sent)


@pytest.mark.parametrize("case", JWT_CASES + SIGNED_HEADER_CASES, ids=lambda c: c.name)
async def test_signed_bearer_token(case: AuthCase, security_servers: SecurityServers) -> None:
    running = security_servers.signed()
    assert running.jwt is not None
    good = encode(claims(running.jwt), running.jwt.secret)
    verdict, sent = await _verdict(running, case, good)
    assert verdict == case.expected, _account(case, verdict, sent)


@pytest.mark.parametrize(
    ("skew_s", "exp_delta", "expected"),
    [(0, -10, rejected("expired websocket jwt")), (300, -120, ACCEPTED)],
    ids=["skew-0-exp-10s-ago-rejected", "skew-300-exp-120s-ago-accepted"],
)
async def test_configured_clock_skew(skew_s: int, exp_delta: int, expected: Verdict,
                                     security_servers: SecurityServers) -> None:
    running = security_servers.signed(skew_s=skew_s)
    assert running.jwt is not None
    token = encode(claims(running.jwt, exp=int(time.time()) + exp_delta), running.jwt.secret)
    verdict = await try_upgrade(running.server.url, {"Authorization": "Bearer " + token})
    assert verdict == expected, (f"skew {skew_s} s, exp {-exp_delta} s ago: the server answered {verdict}; "
                                 f"codex 0.171.0 answers {expected}")


async def test_readyz_needs_no_credential(security_servers: SecurityServers) -> None:
    """``/readyz`` is outside auth on codex; it reveals nothing but liveness."""
    from pytest_execserver.suites.security.handshake import http_get

    running = security_servers.capability()
    assert await http_get(running.server.url, "/readyz") == Verdict(200, "")


# -- timing-safe comparison -------------------------------------------------------------------------------
#
# codex hashes the presented token (SHA-256) and compares digests in constant time, so a client cannot steer
# how many compared bytes match, and no measurement over a socket can show a constant-time compare. What a
# black-box test can show is a gross leak: a server whose rejection takes longer the more of the token a
# guess gets right. We time rejections of guesses that share 0 and all-but-one characters with the token
# (interleaved, ROUNDS each) and compare the *fastest* of each (noise on a shared machine only adds time, so
# the minimum is the stable statistic; medians differed by 4x on codex under load). A leak is the near guess
# being slower by more than LEAK_RATIO times the far one plus LEAK_FLOOR_MS.

ROUNDS = 15
LEAK_RATIO = 2.0
LEAK_FLOOR_MS = 10.0


async def test_capability_token_rejection_time_does_not_depend_on_the_guess(security_servers: SecurityServers) -> None:
    running = security_servers.capability()
    assert running.token is not None
    token = running.token
    near = token[:-1] + ("0" if token[-1] != "0" else "1")
    far = "".join("z" if c != "z" else "y" for c in token)
    times: dict[str, list[float]] = {"near": [], "far": []}
    for _ in range(ROUNDS):
        for label, guess in (("near", near), ("far", far)):
            start = time.perf_counter()
            verdict = await try_upgrade(running.server.url, {"Authorization": "Bearer " + guess})
            times[label].append(time.perf_counter() - start)
            assert not verdict.accepted, f"a wrong token ({label}) was accepted: {verdict}"
    near_ms, far_ms = (min(times[k]) * 1000 for k in ("near", "far"))
    print(f"token rejection (fastest of {ROUNDS}): near {near_ms:.2f} ms, far {far_ms:.2f} ms")
    assert near_ms < LEAK_RATIO * far_ms + LEAK_FLOOR_MS, (
        f"rejecting a guess that matches {len(token) - 1}/{len(token)} characters takes {near_ms:.2f} ms "
        f"(fastest of {ROUNDS}), one that matches none {far_ms:.2f} ms (limit {LEAK_RATIO:g} x + "
        f"{LEAK_FLOOR_MS:g} ms): the comparison leaks how much of the token was guessed"
    )
