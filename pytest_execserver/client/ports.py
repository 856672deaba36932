"""What the per-process code and the recovery loop need from the client, as protocols.

``ProcessHandle`` (process.py), the mode loops (modes.py) and session recovery (recovery.py) depend on these,
not on ``ExecClient``; so ``client.py`` imports them and nothing imports ``client.py`` back.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from pytest_execserver.checks.history import History
from pytest_execserver.client.errors import TransportError
from pytest_execserver.client.flow import FlowControl
from pytest_execserver.client.session import SessionCore
from pytest_execserver.client.transport import Transport


class ProcessOwner(Protocol):
    """The client as a process handle and its consumer see it."""

    history: History
    client_id: str
    mode: str
    request_timeout_s: float
    legacy_wait_ms: int
    consumer_delay_s: float
    flow: FlowControl

    async def call(self, method: str, params: Any = None, *, timeout: float | None = None) -> Any: ...

    def flow_changed(self) -> None: ...

    async def consumer_gate(self) -> None: ...


class Resumable(Protocol):
    """The client as session recovery sees it."""

    history: History
    client_id: str
    session_id: str | None
    recovery_deadline_s: float
    transport: Transport | None
    reconnects: int
    core: SessionCore

    @property
    def open_processes(self) -> Mapping[str, Recoverable]: ...

    async def open_transport(self) -> Transport: ...

    async def initialize_on(self, transport: Transport, resume_session_id: str | None) -> dict[str, Any]: ...

    def fail_all(self, error: TransportError) -> None: ...

    def mark_ready(self) -> None: ...


class Recoverable(Protocol):
    """A process that reads back after a reconnect."""

    def request_recovery(self, reason: str) -> None: ...
