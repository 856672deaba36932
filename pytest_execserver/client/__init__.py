"""Asyncio client for exec-servers (JSON-RPC over websocket), modelled on ``codex exec-server``.

``client = await connect(url)`` (or ``async with connect(url) as client``) connects, initializes and
returns an :class:`ExecClient`; ``await client.run(argv)`` gives a :class:`ProcessResult`,
``await client.start(argv)`` a :class:`ProcessHandle` to stream, write, signal and wait on. Every event
is recorded in a :class:`~pytest_execserver.checks.history.History`.
"""

from pytest_execserver.client.backoff import Backoff
from pytest_execserver.client.client import Connecting, ExecClient, connect
from pytest_execserver.client.errors import (
    SESSION_ALREADY_ATTACHED,
    ExecServerError,
    RecoveryError,
    RequestTimeout,
    SessionLost,
    StartOutcomeUnknown,
    TransportError,
)
from pytest_execserver.client.events import Closed, Exited, OutputChunk, ReadResult, Reassembler
from pytest_execserver.client.modes import MODES
from pytest_execserver.client.process import ProcessHandle, ProcessResult

__all__ = [
    "MODES",
    "SESSION_ALREADY_ATTACHED",
    "Backoff",
    "Closed",
    "Connecting",
    "ExecClient",
    "ExecServerError",
    "Exited",
    "OutputChunk",
    "ProcessHandle",
    "ProcessResult",
    "ReadResult",
    "Reassembler",
    "RecoveryError",
    "RequestTimeout",
    "SessionLost",
    "StartOutcomeUnknown",
    "TransportError",
    "connect",
]
