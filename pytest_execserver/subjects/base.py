"""The client-under-test contract: :class:`RunRequest` in, :class:`Outcome` out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable


class SubjectError(RuntimeError):
    """The harness could not drive the client (it would not start, broke the line protocol, or hung)."""


@dataclass(frozen=True)
class RunRequest:
    """One command for the client to run on the exec-server.

    ``cwd`` is a ``file://`` URI inside the test's scratch directory; ``timeout_ms`` is the client's own
    budget for the whole run: a client that has not answered by then (plus the harness's margin) hangs.
    """

    argv: Sequence[str]
    cwd: str
    env: Mapping[str, str] = field(default_factory=dict)
    stdin: bytes | None = None
    tty: bool = False
    timeout_ms: int = 30_000


@dataclass(frozen=True)
class ClientFailure:
    """The client's own report of a failure: its type name and message."""

    type: str
    message: str


@dataclass(frozen=True)
class Outcome:
    """What the client delivered for one :class:`RunRequest`.

    ``error`` is None when the client says the run completed; otherwise ``exit_code`` may be None and
    ``stdout``/``stderr`` hold whatever was delivered before the failure.
    """

    exit_code: int | None
    stdout: bytes
    stderr: bytes
    error: ClientFailure | None = None
    truncated: bool = False  # the client said it cut the output (e.g. codex's tool-output limit)


@runtime_checkable
class ClientUnderTest(Protocol):
    """A client the harness drives. One request at a time; ``close`` ends it (and its processes)."""

    name: str

    async def run(self, request: RunRequest) -> Outcome: ...

    async def close(self) -> None: ...
