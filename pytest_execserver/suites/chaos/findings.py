"""Findings about specific clients, each a strict xfail naming the client version it was seen on.

A finding is applied to a test only when the client under test is that client at a version where it was
seen (``codex`` is codex's default version, :data:`pytest_execserver.servers.codex.DEFAULT_VERSION`); the xfail is
strict, so a release that fixes it turns the test into an XPASS failure and the finding is updated.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from pytest_execserver.servers.codex import DEFAULT_VERSION
from pytest_execserver.subjects.fixtures import client_spec
from pytest_execserver.subjects.spec import is_codex_spec


@dataclass(frozen=True)
class Finding:
    """What a client does wrong (or cannot do), on which versions."""

    client: str  # "codex"
    versions: frozenset[str]
    account: str

    def reason(self, version: str) -> str:
        return f"{self.client} {version}: {self.account}"


BINARY_STDIN = Finding("codex", frozenset({"0.171.0"}), (
    "codex writes a process's stdin only through a terminal, as text (write_stdin's 'chars', UTF-8 JSON "
    "string; write_stdin on a non-tty process is refused), so stdin that is not UTF-8 cannot be delivered; "
    "the codex subject raises SubjectError saying so. Text stdin is covered by test_cut_mid_stream_recovers"))


def client_version(config: pytest.Config) -> tuple[str, str] | None:
    """(client, version) of the client under test when it is a versioned client (codex), else None."""
    spec = client_spec(config)
    if not is_codex_spec(spec):
        return None
    version = spec.strip().partition("@")[2] or DEFAULT_VERSION
    return "codex", version


def xfail_if_found(request: pytest.FixtureRequest, finding: Finding) -> None:
    """Mark the running test a strict xfail carrying ``finding`` when the client under test has it."""
    found = client_version(request.config)
    if found is not None and found[0] == finding.client and found[1] in finding.versions:
        request.applymarker(pytest.mark.xfail(strict=True, reason=finding.reason(found[1])))


def _protocol(account: str = "", versions: frozenset[str] = frozenset()) -> Finding:
    return Finding("codex", versions, account)


# The protocol-fault cases (test_protocol.py), by case; an empty version set: not seen on any version.
PROTOCOL_FINDINGS: dict[str, Finding] = {
    "lost_start_response": _protocol(
        "with the response to its process/start withheld by the protocol proxy (the process did start: the "
        "journal shows one start, and codex did not send it again), codex exec never finishes: it told the "
        "model nothing and printed nothing, and was still waiting when the harness stopped it at 25.0 s (the "
        "run's timeout_ms 5000 + the 20 s margin); an exec call whose answer is lost hangs instead of failing",
        frozenset({"0.171.0"})),
    "close_1012": _protocol(),
    "blackhole": _protocol(),
    "duplicate": _protocol(),
    "reorder": _protocol(),
    "server_restart": _protocol(),
    "session_lost": _protocol(),
}

# The hostile-server cases (test_hostile_server.py), by case.
HOSTILE_FINDINGS: dict[str, Finding] = {
    "flood": _protocol(),
    "oversized": _protocol(),
    "future_seq": _protocol(),
    "exited_no_code": _protocol(),
}
