"""``--ws-auth capability-token``: ``Authorization: Bearer <token>`` checked against a SHA-256 digest."""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from pathlib import Path

_HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")


class AuthConfigError(Exception):
    """Bad auth flags; the message is codex's startup error text."""


@dataclass(frozen=True)
class CapabilityToken:
    digest: bytes

    def check(self, header: str | None) -> str | None:
        """``None`` when authorized, else the 401 body text."""
        if header is None:
            return "missing websocket bearer token"
        scheme, _, rest = header.strip().partition(" ")
        if scheme.lower() != "bearer":
            return "invalid authorization header"
        token = rest.strip()
        if not token:
            return "missing websocket bearer token"
        candidate = hashlib.sha256(token.encode()).digest()
        if not hmac.compare_digest(candidate, self.digest):
            return "invalid websocket bearer token"
        return None


def build_auth(mode: str | None, token_file: str | None, token_sha256: str | None) -> CapabilityToken | None:
    if mode is None:
        if token_file is not None or token_sha256 is not None:
            raise AuthConfigError(
                "websocket auth flags require `--ws-auth capability-token` or `--ws-auth signed-bearer-token`"
            )
        return None
    if mode != "capability-token":
        raise AuthConfigError(f"--ws-auth {mode} is not supported by execserver-ref")
    if token_sha256 is not None:
        if not _HEX64.match(token_sha256):
            raise AuthConfigError("--ws-token-sha256 must be a 64-character hex SHA-256 digest")
        return CapabilityToken(bytes.fromhex(token_sha256))
    if token_file is not None:
        path = Path(token_file).absolute()
        try:
            token = path.read_text().strip()
        except OSError as exc:
            raise AuthConfigError(
                f"failed to read websocket auth secret {path}: {exc.strerror} (os error {exc.errno})"
            ) from None
        if not token:
            raise AuthConfigError(f"websocket auth secret {path} is empty")
        return CapabilityToken(hashlib.sha256(token.encode()).digest())
    raise AuthConfigError(
        "`--ws-token-file` or `--ws-token-sha256` is required when `--ws-auth capability-token` is set"
    )
