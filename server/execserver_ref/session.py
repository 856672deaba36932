"""Sessions: own processes and file handles, survive disconnects (detached) until resumed or expired."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import uuid
from dataclasses import dataclass, field

from execserver_ref.bugs import NO_BUGS, Bugs
from execserver_ref.envelope import SESSION_ALREADY_ATTACHED, RpcError, invalid_request
from execserver_ref.outbound import Outbound
from execserver_ref.process import ManagedProcess
from execserver_ref.retention import DEFAULT_RETAINED_BYTES
from execserver_ref.versions import CodexBehaviour, behaviour

log = logging.getLogger("execserver_ref.session")

DEFAULT_SESSION_TTL_MS = 30_000
DEFAULT_RETENTION_AFTER_CLOSE_MS = -1  # codex 0.169.0 keeps closed processes for the session
MAX_FILE_HANDLES = 1024


@dataclass
class ServerConfig:
    session_ttl_ms: int = DEFAULT_SESSION_TTL_MS
    retained_bytes: int = DEFAULT_RETAINED_BYTES
    retention_after_close_ms: int = DEFAULT_RETENTION_AFTER_CLOSE_MS
    concurrent_requests: int = 1
    bugs: Bugs = field(default_factory=lambda: NO_BUGS)
    omit_sandbox_denied: bool = False  # an older server: process/exited has no sandboxDenied
    codex: CodexBehaviour = field(default_factory=behaviour)  # the codex release followed


class Session:
    def __init__(self, registry: SessionRegistry, session_id: str, sink: Outbound) -> None:
        self.registry = registry
        self.session_id = session_id
        self.sink: Outbound | None = sink
        self.processes: dict[str, ManagedProcess] = {}
        self.starting: set[str] = set()
        self.file_handles: dict[str, int] = {}
        self._expiry: asyncio.TimerHandle | None = None
        self.expires_at: float | None = None
        self.disposed = False
        self.lose_next_chunk = False  # --inject-bug lose-first-chunk-after-resume, armed by a resume

    def take_chunk_loss(self) -> bool:
        """Whether the chunk being produced is the one the injected bug loses (at most once per resume)."""
        if self.lose_next_chunk and self.sink is not None:
            self.lose_next_chunk = False
            return True
        return False

    async def emit(self, frame: str) -> None:
        sink = self.sink
        if sink is not None:
            await sink.put(frame)

    def on_process_closed(self, process: ManagedProcess) -> None:
        ms = self.registry.config.retention_after_close_ms
        if ms < 0 or self.disposed:
            return
        loop = asyncio.get_running_loop()
        loop.call_later(ms / 1000, self._forget, process)

    def _forget(self, process: ManagedProcess) -> None:
        if self.processes.get(process.process_id) is process:
            del self.processes[process.process_id]
            process.dispose()

    def dispose(self) -> None:
        self.disposed = True
        if self._expiry is not None:
            self._expiry.cancel()
            self._expiry = None
        for process in list(self.processes.values()):
            process.dispose()
        self.processes.clear()
        for fd in self.file_handles.values():
            with contextlib.suppress(OSError):
                os.close(fd)
        self.file_handles.clear()


class SessionRegistry:
    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.sessions: dict[str, Session] = {}

    def attach(self, resume_session_id: str | None, sink: Outbound) -> Session:
        if resume_session_id is None:
            session = Session(self, str(uuid.uuid4()), sink)
            self.sessions[session.session_id] = session
            return session
        session_or_none = self.sessions.get(resume_session_id)
        if session_or_none is None:
            raise invalid_request(f"unknown session id {resume_session_id}")
        session = session_or_none
        loop = asyncio.get_running_loop()
        if session.expires_at is not None and loop.time() >= session.expires_at:
            self._expire(session)
            raise invalid_request(f"unknown session id {resume_session_id}")
        if session.sink is not None:
            raise RpcError(
                SESSION_ALREADY_ATTACHED,
                f"session {resume_session_id} is already attached to another connection",
            )
        if session._expiry is not None:
            session._expiry.cancel()
            session._expiry = None
        session.expires_at = None
        session.sink = sink
        session.lose_next_chunk = self.config.bugs.lose_first_chunk_after_resume
        return session

    def detach(self, session: Session, sink: Outbound) -> None:
        if session.sink is not sink:
            return
        session.sink = None
        loop = asyncio.get_running_loop()
        ttl = self.config.session_ttl_ms / 1000
        session.expires_at = loop.time() + ttl
        session._expiry = loop.call_later(ttl, self._expire, session)

    def _expire(self, session: Session) -> None:
        if session.sink is not None:
            return
        log.debug("session %s expired", session.session_id)
        if self.sessions.get(session.session_id) is session:
            del self.sessions[session.session_id]
        session.dispose()

    def shutdown(self) -> None:
        sessions, self.sessions = list(self.sessions.values()), {}
        for session in sessions:
            session.dispose()
