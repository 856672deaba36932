"""Per-process consumers for the two client modes: the asyncio loops around :class:`ProcessStream`.

- ``event-stream``: consume pushed ``process/output|exited|closed`` notifications from the process's queue;
  read back (``process/read afterSeq=<last delivered>``) only to recover from a seq gap that persists, a
  reconnect, silence, or the overflow of a lossy ``queue_limit`` (receiver lag). A reconnect wakes a waiting
  consumer at once (a ``None`` marker on its queue), so the read-back does not wait for the idle probe.
- ``legacy-read``: long-poll ``process/read`` until closed; pushed notifications only fill what a read says
  the server's retention evicted.

When ``process/exited`` carried no ``sandboxDenied`` (an older server), the consumer does one
``process/read`` to learn it before it delivers ``closed``, as the Codex client does.
"""

from __future__ import annotations

import asyncio

from pytest_execserver.client.errors import ExecServerError, RecoveryError, TransportError
from pytest_execserver.client.events import parse_read
from pytest_execserver.client.process import ProcessHandle

MODES = ("event-stream", "legacy-read")
MAX_PARTIAL_READS = 10_000


async def _read(handle: ProcessHandle, after: int, wait_ms: int) -> object:
    """``process/read``; while it waits, flow control keeps the socket read (the response is behind)."""
    client = handle.client
    client.flow.read_started()
    client.flow_changed()
    try:
        return await client.call(
            "process/read",
            {"processId": handle.process_id, "afterSeq": after, "waitMs": wait_ms},
            timeout=client.request_timeout_s + wait_ms / 1000.0,
        )
    finally:
        client.flow.read_finished()
        client.flow_changed()


async def read_back(handle: ProcessHandle, *, wait_ms: int) -> bool:
    """One ``process/read`` after the last delivered seq, merged and delivered; True if more is needed.

    Seqs the read no longer has (evicted from the server's retention) are filled from the pushed events
    kept in legacy-read mode, recorded as a ``recover`` operation with reason ``evicted``.
    """
    after = handle.reassembler.last_seq
    result = await _read(handle, after, wait_ms)
    read = parse_read(result if isinstance(result, dict) else {})
    if read.exited and read.sandbox_denied is not None:
        handle.read_sandbox_denied = read.sandbox_denied
    need_more, ready, filled = handle.stream.apply_read(read)
    if filled:
        history, cid, pid = handle.client.history, handle.client.client_id, handle.process_id
        history.record("invoke", "recover", cid, process_id=pid, reason="evicted", after_seq=after)
        history.record("ok", "recover", cid, process_id=pid, reason="evicted", filled=filled)
    handle.deliver(ready)
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
    """Deliver queued notifications in order; recover by read-back on lag, gap, reconnect or silence."""
    client, stream = handle.client, handle.stream
    loop = asyncio.get_running_loop()
    while not stream.reassembler.closed_released:
        await client.consumer_gate()
        if (reason := stream.take_recovery()) is not None:
            await recover(handle, reason)
            continue
        try:
            event = handle.queue.get_nowait()
        except asyncio.QueueEmpty:
            try:
                event = await asyncio.wait_for(handle.queue.get(), stream.wait_budget(loop.time()))
            except TimeoutError:
                if stream.on_silence() == "idle":
                    await _idle_probe(handle)
                continue
        if event is None:
            continue  # wake marker from request_recovery (e.g. a reconnect): recover at the loop's top
        if client.consumer_delay_s > 0:
            await asyncio.sleep(client.consumer_delay_s)
        handle.deliver(stream.consume(event, loop.time()))


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
        await read_back(handle, wait_ms=0 if handle.reassembler.pending else client.legacy_wait_ms)


async def learn_sandbox_denial(handle: ProcessHandle) -> None:
    """``process/exited`` carried no ``sandboxDenied`` (an older server): one ``process/read`` to learn it, as
    the Codex client does. It stays ``None`` if the read does not say either, or fails."""
    client = handle.client
    try:
        result = await _read(handle, handle.reassembler.last_seq, 0)
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
