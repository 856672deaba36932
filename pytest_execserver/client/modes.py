"""Per-process consumers for the two client modes.

- ``event-stream``: consume pushed ``process/output|exited|closed`` notifications from a bounded queue;
  read back (``process/read afterSeq=<last delivered>``) only to recover from receiver lag (queue
  overflow), a seq gap, a reconnect, or silence. A reconnect wakes a waiting consumer at once (a ``None``
  marker on its queue), so the read-back does not wait for the idle probe (``IDLE_PROBE_S``).
- ``legacy-read``: long-poll ``process/read`` until closed, ignoring notifications.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from pytest_execserver.client.errors import ExecServerError, RecoveryError, TransportError
from pytest_execserver.client.events import parse_read

if TYPE_CHECKING:
    from pytest_execserver.client.process import ProcessHandle

MODES = ("event-stream", "legacy-read")
IDLE_PROBE_S = 5.0
GAP_GRACE_S = 0.05
MAX_PARTIAL_READS = 10_000


async def read_back(handle: ProcessHandle, *, wait_ms: int) -> bool:
    """One ``process/read`` after the last delivered seq, merged and delivered; True if more is needed.

    In legacy-read mode, seqs the read no longer has (evicted from the server's retention while this client
    read through the notifications ahead of the response) are filled from the pushed events it kept, and
    the fill is recorded as a ``recover`` operation with reason ``evicted``.
    """
    client = handle.client
    reassembler = handle.reassembler
    after = reassembler.last_seq
    client.flow.read_started()
    client.flow_changed()
    try:
        result = await client.call(
            "process/read",
            {"processId": handle.process_id, "afterSeq": after, "waitMs": wait_ms},
            timeout=client.request_timeout_s + wait_ms / 1000.0,
        )
    finally:
        client.flow.read_finished()
        client.flow_changed()
    filled_before = reassembler.filled
    read = parse_read(result if isinstance(result, dict) else {})
    if read.exited and read.sandbox_denied is not None:
        handle.read_sandbox_denied = read.sandbox_denied
    need_more = reassembler.apply_read(read, fallback=handle.spill)
    if reassembler.filled != filled_before:
        history, cid, pid = client.history, client.client_id, handle.process_id
        history.record("invoke", "recover", cid, process_id=pid, reason="evicted", after_seq=after)
        filled = reassembler.filled - filled_before
        history.record("ok", "recover", cid, process_id=pid, reason="evicted", filled=filled)
    handle.deliver_ready()
    return need_more


async def recover(handle: ProcessHandle, reason: str) -> None:
    """Read back everything after the last delivered seq, recording a ``recover`` operation."""
    client = handle.client
    history, cid, pid = client.history, client.client_id, handle.process_id
    history.record("invoke", "recover", cid, process_id=pid, reason=reason, after_seq=handle.reassembler.last_seq)
    try:
        for _ in range(MAX_PARTIAL_READS):
            if not await read_back(handle, wait_ms=0):
                break
    except BaseException as exc:
        history.record("fail", "recover", cid, process_id=pid, reason=reason, message=str(exc))
        raise
    history.record("ok", "recover", cid, process_id=pid, reason=reason, last_seq=handle.reassembler.last_seq)


async def consume_event_stream(handle: ProcessHandle) -> None:
    """Deliver queued notifications in order; recover by read-back on lag, gap or reconnect."""
    client = handle.client
    reassembler = handle.reassembler
    gap_deadline: float | None = None  # a seq gap is only a loss if the missing event does not follow soon
    while not reassembler.closed_released:
        await client.consumer_gate()
        if handle.recover_reason is not None:
            reason, handle.recover_reason = handle.recover_reason, None
            gap_deadline = None
            await recover(handle, reason)
            continue
        loop = asyncio.get_running_loop()
        try:
            event = handle.queue.get_nowait()
        except asyncio.QueueEmpty:
            wait_s = IDLE_PROBE_S if gap_deadline is None else max(0.0, gap_deadline - loop.time())
            try:
                event = await asyncio.wait_for(handle.queue.get(), wait_s)
            except TimeoutError:
                if gap_deadline is not None:
                    handle.request_recovery("gap")
                else:
                    await _idle_probe(handle)
                continue
        if event is None:
            continue  # wake marker from request_recovery (e.g. a reconnect): recover at the loop's top
        if client.consumer_delay_s > 0:
            await asyncio.sleep(client.consumer_delay_s)
        if reassembler.offer(event):
            handle.deliver_ready()
        if not reassembler.has_gap():
            gap_deadline = None
        elif gap_deadline is None:
            # codex sends notifications of different streams out of seq order (docs/protocol.md §4), so
            # a gap usually closes with the next notification; read back only if it persists.
            gap_deadline = loop.time() + GAP_GRACE_S


async def _idle_probe(handle: ProcessHandle) -> None:
    """After a silence, check by read-back that no event was lost; recorded only if one was."""
    before = handle.reassembler.last_seq
    if not handle.started:
        return
    await read_back(handle, wait_ms=0)
    if handle.reassembler.last_seq != before:
        history, cid = handle.client.history, handle.client.client_id
        history.record("invoke", "recover", cid, process_id=handle.process_id, reason="idle", after_seq=before)
        history.record("ok", "recover", cid, process_id=handle.process_id, reason="idle")


async def consume_legacy_read(handle: ProcessHandle) -> None:
    """Long-poll ``process/read`` until the process is closed."""
    client = handle.client
    while not handle.reassembler.closed_released:
        await client.consumer_gate()
        need_more = await read_back(handle, wait_ms=0 if handle.reassembler.pending else client.legacy_wait_ms)
        if need_more:
            continue


async def learn_sandbox_denial(handle: ProcessHandle) -> None:
    """``process/exited`` carried no ``sandboxDenied`` (an older server): one ``process/read`` to learn it, as
    the Codex client does. It stays ``None`` if the read does not say either, or fails."""
    client = handle.client
    try:
        result = await client.call(
            "process/read", {"processId": handle.process_id, "afterSeq": handle.reassembler.last_seq, "waitMs": 0}
        )
    except (ExecServerError, TransportError) as exc:
        client.history.record("info", "sandbox_denied", client.client_id, process_id=handle.process_id,
                              value=None, source="process/read", message=str(exc))  # fmt: skip
        return
    read = parse_read(result if isinstance(result, dict) else {})
    handle.learn_sandbox_denied(read.sandbox_denied, "process/read")


async def run_consumer(handle: ProcessHandle) -> None:
    """The consumer task body: runs the mode's loop and turns errors into a failed process."""
    try:
        if handle.client.mode == "legacy-read":
            await consume_legacy_read(handle)
        else:
            await consume_event_stream(handle)
        if handle.held_closed is not None:
            await learn_sandbox_denial(handle)
            handle.deliver_held_closed()
    except asyncio.CancelledError:
        raise
    except RecoveryError as exc:
        handle.fail(exc)
    except Exception as exc:
        handle.fail(exc)
