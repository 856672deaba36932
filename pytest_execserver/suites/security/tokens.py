"""The JWT and capability-token cases of the security suite, as data: what to send, and codex's answer.

A case builds one ``Authorization`` header value (or none) from a :class:`JwtSetup`; the expected
answer is what ``codex exec-server`` 0.171.0 does (``docs/security.md`` has the measured table). Every
token is built with PyJWT; the RS256 key is generated fresh (``cryptography``), never read from disk.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jwt

DEFAULT_SKEW_S = 30  # codex's default --ws-max-clock-skew-seconds
SECRET_MIN_BYTES = 32  # codex refuses a shorter shared secret at startup


@dataclass(frozen=True)
class JwtSetup:
    """What a signed-bearer server was started with."""

    secret: str
    issuer: str | None = "execserver-security-suite"
    audience: str | None = "exec-server"
    skew_s: int = DEFAULT_SKEW_S


@dataclass(frozen=True)
class Verdict:
    """A handshake outcome: 101 (upgraded) or an HTTP status with its body."""

    status: int
    body: str = ""

    @property
    def accepted(self) -> bool:
        return self.status == 101

    def __str__(self) -> str:
        return "101 upgraded" if self.accepted else f"{self.status} {self.body!r}"


ACCEPTED = Verdict(101)


def rejected(body: str) -> Verdict:
    return Verdict(401, body)


@dataclass(frozen=True)
class AuthCase:
    """One upgrade request: ``header(setup)`` gives the ``Authorization`` value (``None``: no header)."""

    name: str
    header: Callable[[JwtSetup], str | None]
    expected: Verdict
    query: str = ""  # appended to the path, e.g. ``?token=...``
    doc: str = ""
    tags: tuple[str, ...] = field(default=())


def encode(claims: dict[str, Any], key: Any, algorithm: str = "HS256", headers: dict[str, Any] | None = None) -> str:
    return jwt.encode(claims, key, algorithm=algorithm, headers=headers)


def claims(setup: JwtSetup, **overrides: Any) -> dict[str, Any]:
    """Valid claims (exp in 5 minutes, the server's iss and aud); an override of ``None`` drops the claim."""
    now = int(time.time())
    out: dict[str, Any] = {"exp": now + 300, "iat": now, "sub": "security-suite"}
    if setup.issuer is not None:
        out["iss"] = setup.issuer
    if setup.audience is not None:
        out["aud"] = setup.audience
    for key, value in overrides.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = value
    return out


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def alg_none_token(payload: dict[str, Any]) -> str:
    """An unsigned token (``"alg": "none"``, empty signature): PyJWT refuses to make one, so built here."""
    header = _b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    return f"{header}.{_b64(json.dumps(payload).encode())}."


def rsa_private_key() -> Any:
    from cryptography.hazmat.primitives.asymmetric import rsa  # only this case needs it

    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _bearer(build: Callable[[JwtSetup], str]) -> Callable[[JwtSetup], str]:
    return lambda s: "Bearer " + build(s)


def _hs256(**overrides: Any) -> Callable[[JwtSetup], str]:
    return _bearer(lambda s: encode(claims(s, **overrides), s.secret))


def _now(delta: int) -> int:
    return int(time.time()) + delta


INVALID_JWT = rejected("invalid websocket jwt")
BAD_HEADER = rejected("invalid authorization header")
MISSING = rejected("missing websocket bearer token")

# Times are far from every boundary (a skew of 30 s: 10 s inside, 120 s outside), so a loaded machine
# cannot flip a verdict.
JWT_CASES: tuple[AuthCase, ...] = (
    AuthCase("valid", lambda s: "Bearer " + encode(claims(s), s.secret), ACCEPTED),
    AuthCase("lower-case-bearer", lambda s: "bearer " + encode(claims(s), s.secret), ACCEPTED),
    AuthCase("aud-list-containing-audience",
             _bearer(lambda s: encode(claims(s, aud=["other", s.audience or ""]), s.secret)), ACCEPTED),
    AuthCase("expired-long-ago", lambda s: "Bearer " + encode(claims(s, exp=_now(-3600)), s.secret),
             rejected("expired websocket jwt")),
    AuthCase("expired-within-skew", lambda s: "Bearer " + encode(claims(s, exp=_now(-10)), s.secret), ACCEPTED,
             doc="exp 10 s ago, default skew 30 s", tags=("default-skew",)),
    AuthCase("expired-past-skew", lambda s: "Bearer " + encode(claims(s, exp=_now(-120)), s.secret),
             rejected("expired websocket jwt"), doc="exp 120 s ago, default skew 30 s", tags=("default-skew",)),
    AuthCase("not-yet-valid", lambda s: "Bearer " + encode(claims(s, nbf=_now(3600)), s.secret),
             rejected("websocket jwt is not valid yet")),
    AuthCase("nbf-within-skew", lambda s: "Bearer " + encode(claims(s, nbf=_now(10)), s.secret), ACCEPTED,
             tags=("default-skew",)),
    AuthCase("missing-exp", _hs256(exp=None), INVALID_JWT),
    AuthCase("exp-not-a-number", _hs256(exp="tomorrow"), INVALID_JWT),
    AuthCase("missing-iss", _hs256(iss=None), rejected("websocket jwt issuer mismatch")),
    AuthCase("wrong-iss", _hs256(iss="someone-else"), rejected("websocket jwt issuer mismatch")),
    AuthCase("missing-aud", _hs256(aud=None), rejected("websocket jwt audience mismatch")),
    AuthCase("wrong-aud", _hs256(aud="another-service"), rejected("websocket jwt audience mismatch")),
    AuthCase("alg-none", _bearer(lambda s: alg_none_token(claims(s))), INVALID_JWT),
    AuthCase("alg-none-with-signature",
             _bearer(lambda s: alg_none_token(claims(s)) + _b64(b"x" * 32)), INVALID_JWT),
    AuthCase("hs512-same-secret", _bearer(lambda s: encode(claims(s), s.secret, "HS512")), INVALID_JWT),
    AuthCase("hs384-same-secret", _bearer(lambda s: encode(claims(s), s.secret, "HS384")), INVALID_JWT),
    AuthCase("rs256", _bearer(lambda s: encode(claims(s), rsa_private_key(), "RS256")), INVALID_JWT),
    AuthCase("wrong-key", _bearer(lambda s: encode(claims(s), "w" * 40)), INVALID_JWT),
    AuthCase("tampered-payload", _bearer(lambda s: _tamper(encode(claims(s), s.secret), claims(s, aud="x"))),
             INVALID_JWT),
    AuthCase("garbage", lambda s: "Bearer not-a-jwt", INVALID_JWT),
    AuthCase("two-segments", lambda s: "Bearer " + encode(claims(s), s.secret).rpartition(".")[0], INVALID_JWT),
)


def _tamper(token: str, payload: dict[str, Any]) -> str:
    header, _, rest = token.partition(".")
    signature = rest.rpartition(".")[2]
    return f"{header}.{_b64(json.dumps(payload).encode())}.{signature}"


def header_cases(good: Callable[[JwtSetup], str]) -> tuple[AuthCase, ...]:
    """Cases about the header itself, common to both auth modes; ``good(setup)`` is an accepted credential."""
    return (
        AuthCase("no-authorization", lambda s: None, MISSING),
        AuthCase("empty-authorization", lambda s: "", BAD_HEADER),
        AuthCase("bearer-without-token", lambda s: "Bearer", BAD_HEADER),
        AuthCase("bearer-spaces-only", lambda s: "Bearer    ", BAD_HEADER),
        AuthCase("basic-scheme", lambda s: "Basic " + good(s), BAD_HEADER),
        AuthCase("token-without-scheme", lambda s: good(s), BAD_HEADER),
        AuthCase("token-in-query-string", lambda s: None, MISSING, query="?token={token}"),
        AuthCase("access-token-in-query-string", lambda s: None, MISSING, query="?access_token={token}"),
    )
