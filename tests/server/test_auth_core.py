"""The reference server's ``--ws-auth`` verdicts without I/O (``execserver_ref.auth``).

The same cases run against real servers (ref and codex 0.171.0) in ``tests/server/test_ws_auth.py``;
here the clock is a parameter, so the skew boundaries are tested to the second.
"""

from __future__ import annotations

import hashlib
import json

import jwt
import pytest
from execserver_ref.auth import (
    AUDIENCE_MISMATCH,
    EXPIRED_JWT,
    INVALID_HEADER,
    INVALID_JWT,
    INVALID_TOKEN,
    ISSUER_MISMATCH,
    MISSING_TOKEN,
    NOT_YET_VALID_JWT,
    AuthConfigError,
    AuthFlags,
    CapabilityToken,
    SignedBearerToken,
    build_auth,
    parse_claims,
)
from execserver_ref.bugs import Bugs

SECRET = b"k" * 64
NOW = 1_800_000_000
AUTH = SignedBearerToken(SECRET, "iss-1", "aud-1", 30)


def bearer(claims: dict[str, object], key: bytes = SECRET, alg: str = "HS256") -> str:
    """Any claims, even ones PyJWT's ``jwt.encode`` refuses (a numeric ``iss``): the payload signed as bytes."""
    return "Bearer " + jwt.api_jws.encode(json.dumps(claims).encode(), key, algorithm=alg)


def good(**overrides: object) -> dict[str, object]:
    claims: dict[str, object] = {"exp": NOW + 60, "iss": "iss-1", "aud": "aud-1"}
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


@pytest.mark.parametrize(
    ("claims", "expected"),
    [
        (good(), None),
        (good(exp=NOW - 30), None),  # exactly at the skew: now > exp + skew is false
        (good(exp=NOW - 31), EXPIRED_JWT),
        (good(nbf=NOW + 30), None),
        (good(nbf=NOW + 31), NOT_YET_VALID_JWT),
        (good(exp=None), INVALID_JWT),
        (good(exp=float(NOW + 60)), INVALID_JWT),  # serde i64: a float is not accepted
        (good(exp=True), INVALID_JWT),
        (good(exp=2**63), INVALID_JWT),
        (good(iss=None), ISSUER_MISMATCH),
        (good(iss=7), INVALID_JWT),
        (good(aud=None), AUDIENCE_MISMATCH),
        (good(aud=["x", "aud-1"]), None),
        (good(aud=["x"]), AUDIENCE_MISMATCH),
        (good(aud=[1]), INVALID_JWT),
        (good(exp=NOW - 3600, iss="wrong"), EXPIRED_JWT),  # codex's order: expiry before issuer
        (good(iss="wrong", aud="wrong"), ISSUER_MISMATCH),
    ],
)
def test_signed_bearer_claims(claims: dict[str, object], expected: str | None) -> None:
    assert AUTH.check(bearer(claims), now=NOW) == expected


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, MISSING_TOKEN),
        ("", INVALID_HEADER),
        ("Bearer", INVALID_HEADER),
        ("Bearer   ", INVALID_HEADER),
        ("Basic abc", INVALID_HEADER),
        ("Bearer caf\u00e9", INVALID_HEADER),  # not visible ASCII: http's to_str() fails
        ("Bearer not-a-jwt", INVALID_JWT),
        ("Bearer a.b.c", INVALID_JWT),
    ],
)
def test_signed_bearer_header(header: str | None, expected: str) -> None:
    assert AUTH.check(header, now=NOW) == expected


def test_algorithm_and_key_are_pinned() -> None:
    assert AUTH.check(bearer(good(), alg="HS512"), now=NOW) == INVALID_JWT
    assert AUTH.check(bearer(good(), key=b"w" * 32), now=NOW) == INVALID_JWT
    unsigned = jwt.encode(good(), None, algorithm="none")
    assert AUTH.check("Bearer " + unsigned, now=NOW) == INVALID_JWT


def test_issuer_and_audience_unset_are_not_checked() -> None:
    auth = SignedBearerToken(SECRET, None, None, 0)
    assert auth.check(bearer({"exp": NOW}), now=NOW) is None
    assert auth.check(bearer({"exp": NOW}), now=NOW + 1) == EXPIRED_JWT


def test_duplicate_claim_is_invalid() -> None:
    with pytest.raises(ValueError):
        parse_claims(b'{"exp": 1, "exp": 2}')
    assert parse_claims(b'{"exp": 1, "x": 1, "x": 2}').exp == 1


def test_weak_bugs_drop_exactly_their_check() -> None:
    expired = bearer(good(exp=NOW - 3600))
    assert SignedBearerToken(SECRET, "iss-1", "aud-1", 30, Bugs(skip_exp_check=True)).check(expired, now=NOW) is None
    wrong_aud = bearer(good(aud="other"))
    assert SignedBearerToken(SECRET, "iss-1", "aud-1", 30, Bugs(skip_aud_check=True)).check(wrong_aud, now=NOW) is None
    unsigned = "Bearer " + jwt.encode(good(), None, algorithm="none")
    weak = SignedBearerToken(SECRET, "iss-1", "aud-1", 30, Bugs(accept_alg_none=True))
    assert weak.check(unsigned, now=NOW) is None
    assert weak.check(bearer(good(), key=b"w" * 32), now=NOW) == INVALID_JWT  # still checks signed tokens
    assert SignedBearerToken(SECRET, "i", "a", 30, Bugs(accept_any_token=True)).check(None) is None
    assert CapabilityToken(b"\0" * 32, Bugs(accept_any_token=True)).check("Basic x") is None


def test_capability_token() -> None:
    auth = CapabilityToken(hashlib.sha256(b"tok").digest())
    assert auth.check("Bearer tok") is None
    assert auth.check("bearer   tok") is None
    assert auth.check("Bearer tok2") == INVALID_TOKEN
    assert auth.check("Bearer") == INVALID_HEADER


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (AuthFlags("signed-bearer-token"), "`--ws-shared-secret-file` is required"),
        (AuthFlags("signed-bearer-token", token_sha256="0" * 64, shared_secret_file="x"), "not `signed-bearer-token`"),
        (AuthFlags("capability-token", token_sha256="0" * 64, issuer="i"), "require `--ws-auth signed-bearer-token`"),
        (AuthFlags("capability-token", token_file="a", token_sha256="0" * 64), "mutually exclusive"),
        (AuthFlags(audience="a"), "websocket auth flags require"),
    ],
)
def test_flag_errors(flags: AuthFlags, message: str) -> None:
    with pytest.raises(AuthConfigError, match=message):
        build_auth(flags)


def test_secret_file_rules(tmp_path) -> None:  # type: ignore[no-untyped-def]
    short = tmp_path / "short"
    short.write_text("s" * 31 + "\n")
    with pytest.raises(AuthConfigError, match="must be at least 32 bytes"):
        build_auth(AuthFlags("signed-bearer-token", shared_secret_file=str(short)))
    empty = tmp_path / "empty"
    empty.write_text(" \n")
    with pytest.raises(AuthConfigError, match="must not be empty"):
        build_auth(AuthFlags("signed-bearer-token", shared_secret_file=str(empty)))
    ok = tmp_path / "ok"
    ok.write_text(" " + "s" * 32 + "\n")
    auth = build_auth(AuthFlags("signed-bearer-token", shared_secret_file=str(ok), issuer="  ", audience=" a "))
    assert auth == SignedBearerToken(b"s" * 32, None, "a", 30)
