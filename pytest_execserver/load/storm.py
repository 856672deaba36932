"""Reconnect storms: every client's connection cut at once while its process runs, then some clients
cut again and again (flapping); each must resume its session and get its process's output byte-exact.

Each client runs ``sh -c 'printf %s "$1"; read -r line; printf %s "$2"'``: the head is printed before
the cut, the tail only after the client -- reconnected -- writes a line to stdin. So the cut always lands
mid-process, and the result proves both the read-back of what was sent before and the stream after.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from pytest_execserver.client import ExecClient, ProcessHandle, connect
from pytest_execserver.load.histogram import LatencyHistogram
from pytest_execserver.load.limits import ensure_fd_capacity
from pytest_execserver.load.workload import output_mismatch, payload

GATED_SCRIPT = 'printf %s "$1"; read -r line; printf %s "$2"'
Cut = Callable[[list[ExecClient]], Awaitable[None]]


@dataclass
class StormResult:
    """How many clients recovered byte-exact, the cuts delivered, and the recovery times (cut -> resumed)."""

    clients: int
    cuts: int = 0
    recovered: int = 0
    errors: list[str] = field(default_factory=list)
    recovery: LatencyHistogram = field(default_factory=LatencyHistogram)

    @property
    def ok(self) -> bool:
        return not self.errors and self.recovered == self.clients

    def summary(self) -> str:
        return (
            f"storm of {self.clients} clients, {self.cuts} cuts: {self.recovered} recovered byte-exact, "
            f"{len(self.errors)} errors; recovery p50 {self.recovery.percentile_ms(50):.0f} ms, "
            f"max {self.recovery.max_ms:.0f} ms"
            + ("" if not self.errors else "; first errors: " + "; ".join(self.errors[:5]))
        )


async def abort_all(clients: list[ExecClient]) -> None:
    """The default cut: every client's TCP connection dropped in the same event-loop step."""
    for client in clients:
        client.abort_transport()


async def _wait_head(handle: ProcessHandle, head: bytes) -> None:
    seen = b""
    async for chunk in handle:
        seen += chunk.data
        if len(seen) >= len(head):
            return


async def _wait_resumed(client: ExecClient, before: int, timeout_s: float) -> None:
    """Until the client has resumed more often than ``before`` (or gave up: its failure is raised)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while client.reconnects <= before:
        if client.failure is not None:
            raise client.failure
        if loop.time() > deadline:
            raise TimeoutError(f"{client.client_id} did not resume within {timeout_s}s")
        await asyncio.sleep(0.01)


async def reconnect_storm(
    url: str,
    *,
    clients: int,
    flaps: int = 0,
    flap_every: int = 2,
    cut: Cut | None = None,
    payload_bytes: int = 64,
    timeout_s: float = 60.0,
    env: Mapping[str, str] | None = None,
) -> StormResult:
    """Cut all ``clients`` at once (``cut``, default :func:`abort_all`; e.g. a Toxiproxy proxy disabled and
    re-enabled), then ``flaps`` more times cut every ``flap_every``-th client alone; every process then
    finishes, and its output must be its head and tail byte-exact."""
    ensure_fd_capacity(clients)
    result = StormResult(clients=clients)
    loop = asyncio.get_running_loop()
    opened: list[ExecClient] = []
    try:
        opened = list(
            await asyncio.gather(
                *(connect(url, client_id=f"storm-{i}", recovery_deadline_s=timeout_s) for i in range(clients))
            )
        )
        heads = [payload(i, 0, payload_bytes) for i in range(clients)]
        tails = [payload(i, 1, payload_bytes) for i in range(clients)]
        handles = await asyncio.gather(
            *(
                c.start(["sh", "-c", GATED_SCRIPT, "sh", heads[i].decode(), tails[i].decode()], env=env,
                        pipe_stdin=True)
                for i, c in enumerate(opened)
            )
        )  # fmt: skip
        await asyncio.wait_for(asyncio.gather(*(_wait_head(h, heads[i]) for i, h in enumerate(handles))), timeout_s)

        async def cut_and_wait(targets: list[ExecClient], do_cut: Cut) -> None:
            before = {c.client_id: c.reconnects for c in targets}
            began = loop.time()
            await do_cut(targets)
            result.cuts += len(targets)

            async def resumed(client: ExecClient) -> None:
                try:
                    await _wait_resumed(client, before[client.client_id], timeout_s)
                except Exception as exc:
                    result.errors.append(f"{client.client_id}: {exc!r}")
                    return
                result.recovery.record_s(loop.time() - began)

            await asyncio.gather(*(resumed(c) for c in targets))

        await cut_and_wait(opened, cut or abort_all)
        flappers = opened[::flap_every] if flap_every > 0 else []
        for _ in range(flaps):
            await cut_and_wait(flappers, abort_all)

        async def finish(i: int, handle: ProcessHandle) -> None:
            try:
                await handle.write(b"go\n", close_stdin=True)
                outcome = await handle.wait(timeout_s)
            except Exception as exc:
                result.errors.append(f"storm-{i}: {exc!r}")
                return
            problem = output_mismatch(heads[i] + tails[i], outcome.stdout, outcome.stderr, outcome.exit_code)
            if problem is not None:
                result.errors.append(f"storm-{i}: {problem}")
            else:
                result.recovered += 1

        await asyncio.gather(*(finish(i, h) for i, h in enumerate(handles)))
    finally:
        for client in opened:
            with contextlib.suppress(Exception):
                await client.close()
    return result
