"""Session recovery after a dropped transport: reconnect with ``resumeSessionId`` inside a deadline.

Order: reconnect (retrying refused connections and ``-32010 session attached`` with backoff),
re-initialize, re-send in-flight reads and same-``writeId`` writes, then read back every open process
from its last delivered seq. Past the deadline every waiter gets a :class:`TransportError`.

Each attempt (connect, websocket handshake, ``initialize``) is bounded by a share of the deadline
(:func:`attempt_budget_s`), so one connection that goes silent mid-handshake -- blackholed, or cut by a
proxy in a way that never reaches us -- costs one attempt, not the whole deadline.
"""

from __future__ import annotations

import asyncio
import time

from pytest_execserver.client.backoff import Backoff
from pytest_execserver.client.errors import (
    SESSION_ALREADY_ATTACHED,
    ExecServerError,
    RecoveryError,
    SessionLost,
    TransportError,
)
from pytest_execserver.client.ports import Resumable
from pytest_execserver.client.transport import Transport

ATTEMPT_SHARE = 3  # an attempt may use a third of the recovery deadline ...
ATTEMPT_MIN_S = 1.0  # ... but at least this long (the whole remaining time if less is left)


def attempt_budget_s(deadline_s: float, remaining_s: float) -> float:
    """How long one resume attempt may take."""
    return min(remaining_s, max(ATTEMPT_MIN_S, deadline_s / ATTEMPT_SHARE))


def is_retryable(error: BaseException) -> bool:
    """Whether a failed resume attempt may be retried before the deadline."""
    if isinstance(error, ExecServerError):
        return error.code == SESSION_ALREADY_ATTACHED
    return isinstance(error, TransportError | OSError | TimeoutError)


async def _attempt(client: Resumable, session_id: str, budget: float) -> Transport:
    until = time.monotonic() + budget
    transport = await asyncio.wait_for(client.open_transport(), budget)
    try:
        await asyncio.wait_for(client.initialize_on(transport, session_id), max(0.01, until - time.monotonic()))
    except BaseException:
        await transport.close()
        raise
    if transport.lost:
        raise TransportError("transport lost during re-initialize")
    return transport


async def reconnect(client: Resumable, reason: str) -> None:
    """The recovery task started when the current transport is lost."""
    history, cid = client.history, client.client_id
    started = time.monotonic()
    deadline = started + client.recovery_deadline_s
    history.record("invoke", "reconnect", cid, reason=reason, session_id=client.session_id)
    if client.session_id is None:
        error: TransportError = TransportError(f"{reason}; no session to resume (never initialized)")
        history.record("fail", "reconnect", cid, message=str(error))
        client.fail_all(error)
        return
    backoff = Backoff()
    attempts = 0
    last_error: BaseException | None = None
    transport: Transport | None = None
    while (remaining := deadline - time.monotonic()) > 0:
        attempts += 1
        try:
            transport = await _attempt(client, client.session_id,
                                       attempt_budget_s(client.recovery_deadline_s, remaining))
            break
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            last_error = exc
            if not is_retryable(exc):
                break
        await asyncio.sleep(backoff.next_delay(deadline - time.monotonic()))
    if transport is None:
        if isinstance(last_error, ExecServerError) and not is_retryable(last_error):
            error = SessionLost(f"{reason}; session {client.session_id} lost: the server refused to resume it "
                                f"({last_error}), so its processes are gone")
        elif last_error is not None and not is_retryable(last_error):
            error = RecoveryError(f"{reason}; session {client.session_id} cannot be resumed: {last_error}")
        else:
            error = TransportError(
                f"{reason}; could not resume session {client.session_id} within "
                f"{client.recovery_deadline_s}s ({attempts} attempts, last error: {last_error!r})"
            )
        history.record("fail", "reconnect", cid, message=str(error), attempts=attempts)
        client.fail_all(error)
        return
    client.transport = transport
    client.reconnects += 1
    for call in client.core.relink(transport):  # reads and same-writeId writes; never a process/start
        await transport.send(call.frame)
    history.record("ok", "reconnect", cid, attempts=attempts, elapsed_ms=(time.monotonic() - started) * 1000.0)
    for handle in client.open_processes.values():
        handle.request_recovery("reconnect")
    client.mark_ready()
