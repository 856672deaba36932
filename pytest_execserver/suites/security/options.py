"""The security suite's command-line options (registered by the execserver plugin, so they are known
before ``--pyargs`` finds the suite's conftest; nothing heavy is imported here)."""

from __future__ import annotations

import pytest

CAPABILITY_ARGS = "--ws-auth capability-token --ws-token-file {token_file}"
SIGNED_ARGS = (
    "--ws-auth signed-bearer-token --ws-shared-secret-file {secret_file} --ws-issuer {issuer} "
    "--ws-audience {audience}"
)
SKEW_ARG = " --ws-max-clock-skew-seconds {skew}"

OPTIONS = (
    ("--security-capability-args", CAPABILITY_ARGS, "capability-token mode; {token_file}"),
    ("--security-signed-args", SIGNED_ARGS, "signed-bearer-token mode; {secret_file} {issuer} {audience}"),
    ("--security-skew-arg", SKEW_ARG, "appended to the signed args to set the clock skew; {skew}"),
)


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup("execserver-security", "security suite (pytest --pyargs pytest_execserver.suites.security)")
    for flag, default, what in OPTIONS:
        group.addoption(flag, default=None, help=f"server flags of the {what} (default: codex's, "
                        f"{default.strip()!r}; 'none': the server has no such mode and its cases skip)")


def template(config: pytest.Config, flag: str, default: str) -> str | None:
    """The template given for ``flag`` (its default if not given); ``None`` for ``none``."""
    value = config.getoption(flag, None)
    if value is None:
        return default
    return None if str(value).strip().lower() == "none" else str(value)
