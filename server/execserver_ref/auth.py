"""``--ws-auth``: the upgrade's ``Authorization: Bearer <token>`` checked the way codex 0.171.0 does.

* ``capability-token``: the token's SHA-256 compared in constant time with a digest (``--ws-token-file``
  or ``--ws-token-sha256``).
* ``signed-bearer-token``: an HS256 JWT signed with the shared secret (PyJWT checks the signature and the
  algorithm); then ``exp`` (required), ``nbf``, ``iss`` and ``aud`` are checked here, each time with
  ``--ws-max-clock-skew-seconds`` of slack (default 30), in codex's order and with codex's 401 bodies.

Everything here is pure: :meth:`check` takes the header value (and the clock, for JWTs) and returns the
401 body, or ``None`` when the upgrade may proceed. ``server.py`` only calls it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from execserver_ref.bugs import NO_BUGS, Bugs

_HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")
_VISIBLE = re.compile(r"^[\t\x20-\x7e]*$")  # what http::HeaderValue::to_str accepts

DEFAULT_MAX_CLOCK_SKEW_SECONDS = 30
MIN_SIGNED_BEARER_SECRET_BYTES = 32
_I64_MAX = 2**63 - 1
_I64_MIN = -(2**63)

MISSING_TOKEN = "missing websocket bearer token"
INVALID_HEADER = "invalid authorization header"
INVALID_TOKEN = "invalid websocket bearer token"
INVALID_JWT = "invalid websocket jwt"
EXPIRED_JWT = "expired websocket jwt"
NOT_YET_VALID_JWT = "websocket jwt is not valid yet"
ISSUER_MISMATCH = "websocket jwt issuer mismatch"
AUDIENCE_MISMATCH = "websocket jwt audience mismatch"

_SIGNED_ONLY = "`--ws-shared-secret-file`, `--ws-issuer`, `--ws-audience`, and `--ws-max-clock-skew-seconds`"


class AuthConfigError(Exception):
    """Bad auth flags; the message is codex's startup error text."""


class Authenticator(Protocol):
    def check(self, header: str | None) -> str | None:
        """``None`` when authorized, else the 401 body text."""


@dataclass(frozen=True)
class _Rejected:
    body: str


def bearer_token(header: str | None) -> str | _Rejected:
    """The token of ``Authorization: Bearer <token>`` (scheme case-insensitive), or why there is none."""
    if header is None:
        return _Rejected(MISSING_TOKEN)
    if not _VISIBLE.match(header):
        return _Rejected(INVALID_HEADER)
    scheme, space, rest = header.strip(" \t").partition(" ")  # the HTTP parser trims the value
    if not space or scheme.lower() != "bearer":
        return _Rejected(INVALID_HEADER)
    token = rest.strip()
    if not token:
        return _Rejected(INVALID_HEADER)
    return token


@dataclass(frozen=True)
class CapabilityToken:
    digest: bytes
    bugs: Bugs = NO_BUGS
    plain: str | None = None  # only kept for the leaky-token-compare bug

    def check(self, header: str | None) -> str | None:
        """``None`` when authorized, else the 401 body text."""
        if self.bugs.accept_any_token:
            return None
        token = bearer_token(header)
        if isinstance(token, _Rejected):
            return token.body
        if self.bugs.leaky_token_compare and self.plain is not None:
            return None if _leaky_equal(token, self.plain) else INVALID_TOKEN
        candidate = hashlib.sha256(token.encode()).digest()
        if not hmac.compare_digest(candidate, self.digest):
            return INVALID_TOKEN
        return None


def _leaky_equal(a: str, b: str) -> bool:
    """The comparison a timing attack reads (a weak server only): it returns at the first difference."""
    for x, y in zip(a, b, strict=False):
        if x != y:
            return False
        time.sleep(0.002)
    return len(a) == len(b)


@dataclass(frozen=True)
class JwtClaims:
    """The claims codex reads (serde: ``exp: i64``, ``nbf: Option<i64>``, ``iss``, ``aud``: string or list)."""

    exp: int
    nbf: int | None
    iss: str | None
    aud: str | list[str] | None


class _BadClaims(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen and key in ("exp", "nbf", "iss", "aud"):
            raise _BadClaims(f"duplicate field `{key}`")
        seen[key] = value
    return seen


def _i64(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not _I64_MIN <= value <= _I64_MAX:
        raise _BadClaims(f"{name} is not an i64")
    return value


def parse_claims(payload: bytes) -> JwtClaims:
    """The claims of a verified payload, typed as strictly as codex's serde struct; raises ``ValueError``."""
    data = json.loads(payload, object_pairs_hook=_no_duplicates)
    if not isinstance(data, dict):
        raise _BadClaims("claims are not an object")
    if "exp" not in data:
        raise _BadClaims("missing field `exp`")
    exp = _i64(data["exp"], "exp")
    nbf = None if data.get("nbf") is None else _i64(data["nbf"], "nbf")
    iss = data.get("iss")
    if iss is not None and not isinstance(iss, str):
        raise _BadClaims("iss is not a string")
    aud = data.get("aud")
    if aud is not None and not isinstance(aud, str) and (
        not isinstance(aud, list) or not all(isinstance(a, str) for a in aud)
    ):
        raise _BadClaims("aud is neither a string nor a list of strings")
    return JwtClaims(exp, nbf, iss, aud)


@dataclass(frozen=True)
class SignedBearerToken:
    """``--ws-auth signed-bearer-token``: an HS256 JWT; ``issuer``/``audience`` ``None`` = not checked."""

    secret: bytes
    issuer: str | None
    audience: str | None
    max_clock_skew_seconds: int = DEFAULT_MAX_CLOCK_SKEW_SECONDS
    bugs: Bugs = NO_BUGS

    def check(self, header: str | None, now: float | None = None) -> str | None:
        """``None`` when authorized, else the 401 body text; ``now`` (unix seconds) defaults to the clock."""
        if self.bugs.accept_any_token:
            return None
        token = bearer_token(header)
        if isinstance(token, _Rejected):
            return token.body
        claims = self._verified_claims(token)
        if claims is None:
            return INVALID_JWT
        return self.check_claims(claims, int(time.time() if now is None else now))

    def _verified_claims(self, token: str) -> JwtClaims | None:
        import jwt  # PyJWT: loaded only by a server that needs it

        algorithms = ["HS256", "none"] if self.bugs.accept_alg_none else ["HS256"]
        try:
            if self.bugs.accept_alg_none and jwt.get_unverified_header(token).get("alg") == "none":
                payload = jwt.api_jws.PyJWS().decode(token, options={"verify_signature": False})
            else:
                payload = jwt.api_jws.PyJWS().decode(token, self.secret, algorithms=algorithms)
            return parse_claims(payload)
        except (jwt.PyJWTError, ValueError, TypeError):
            return None

    def check_claims(self, claims: JwtClaims, now: int) -> str | None:
        """codex's order: expiry, not-before, issuer, audience (each time check with the skew)."""
        skew = self.max_clock_skew_seconds
        if not self.bugs.skip_exp_check and now > claims.exp + skew:
            return EXPIRED_JWT
        if claims.nbf is not None and now < claims.nbf - skew:
            return NOT_YET_VALID_JWT
        if self.issuer is not None and claims.iss != self.issuer:
            return ISSUER_MISMATCH
        if self.audience is not None and not self.bugs.skip_aud_check and not _audience_matches(
            claims.aud, self.audience
        ):
            return AUDIENCE_MISMATCH
        return None


def _audience_matches(aud: str | list[str] | None, expected: str) -> bool:
    if isinstance(aud, str):
        return aud == expected
    return aud is not None and expected in aud


@dataclass(frozen=True)
class AuthFlags:
    """The ``--ws-*`` flags as given (``None``: not given)."""

    mode: str | None = None
    token_file: str | None = None
    token_sha256: str | None = None
    shared_secret_file: str | None = None
    issuer: str | None = None
    audience: str | None = None
    max_clock_skew_seconds: int | None = None

    def signed_only_given(self) -> bool:
        return any(
            v is not None for v in (self.shared_secret_file, self.issuer, self.audience, self.max_clock_skew_seconds)
        )


def _read_trimmed_secret(name: str) -> str:
    path = Path(name).absolute()
    try:
        text = path.read_text().strip()
    except OSError as exc:
        raise AuthConfigError(
            f"failed to read websocket auth secret {path}: {exc.strerror} (os error {exc.errno})"
        ) from None
    except UnicodeDecodeError:
        raise AuthConfigError(
            f"failed to read websocket auth secret {path}: stream did not contain valid UTF-8"
        ) from None
    if not text:
        raise AuthConfigError(f"websocket auth secret {path} must not be empty")
    return text


def _normalize(value: str | None) -> str | None:
    return value.strip() or None if value is not None else None


def build_auth(flags: AuthFlags, bugs: Bugs = NO_BUGS) -> Authenticator | None:
    """The authenticator for ``flags``, or ``None`` (no auth); raises :class:`AuthConfigError` like codex."""
    if flags.mode is None:
        if flags.token_file is not None or flags.token_sha256 is not None or flags.signed_only_given():
            raise AuthConfigError(
                "websocket auth flags require `--ws-auth capability-token` or `--ws-auth signed-bearer-token`"
            )
        return None
    if flags.mode == "signed-bearer-token":
        return _build_signed(flags, bugs)
    if flags.mode != "capability-token":
        raise AuthConfigError(f"--ws-auth {flags.mode} is not supported by execserver-ref")
    if flags.signed_only_given():
        raise AuthConfigError(f"{_SIGNED_ONLY} require `--ws-auth signed-bearer-token`")
    if flags.token_file is not None and flags.token_sha256 is not None:
        raise AuthConfigError("`--ws-token-file` and `--ws-token-sha256` are mutually exclusive")
    if flags.token_sha256 is not None:
        if not _HEX64.match(flags.token_sha256.strip()):
            raise AuthConfigError("--ws-token-sha256 must be a 64-character hex SHA-256 digest")
        return CapabilityToken(bytes.fromhex(flags.token_sha256.strip()), bugs)
    if flags.token_file is not None:
        token = _read_trimmed_secret(flags.token_file)
        plain = token if bugs.leaky_token_compare else None
        return CapabilityToken(hashlib.sha256(token.encode()).digest(), bugs, plain)
    raise AuthConfigError(
        "`--ws-token-file` or `--ws-token-sha256` is required when `--ws-auth capability-token` is set"
    )


def _build_signed(flags: AuthFlags, bugs: Bugs) -> SignedBearerToken:
    if flags.token_file is not None or flags.token_sha256 is not None:
        raise AuthConfigError(
            "`--ws-token-file` and `--ws-token-sha256` require `--ws-auth capability-token`, not `signed-bearer-token`"
        )
    if flags.shared_secret_file is None:
        raise AuthConfigError("`--ws-shared-secret-file` is required when `--ws-auth signed-bearer-token` is set")
    secret = _read_trimmed_secret(flags.shared_secret_file).encode()
    if len(secret) < MIN_SIGNED_BEARER_SECRET_BYTES:
        path = Path(flags.shared_secret_file).absolute()
        raise AuthConfigError(
            f"signed websocket bearer secret {path} must be at least {MIN_SIGNED_BEARER_SECRET_BYTES} bytes"
        )
    skew = DEFAULT_MAX_CLOCK_SKEW_SECONDS if flags.max_clock_skew_seconds is None else flags.max_clock_skew_seconds
    if skew > _I64_MAX:
        raise AuthConfigError("websocket auth clock skew must fit in a signed 64-bit integer")
    return SignedBearerToken(secret, _normalize(flags.issuer), _normalize(flags.audience), skew, bugs)
