"""The load runner: N concurrent clients, each running one-shot processes on an open-loop schedule.

Every operation has an intended start (:mod:`~pytest_execserver.load.schedule`); a client starts it at
that time as its own task -- not after the client's previous operation -- and its latency runs from the
intended start to the byte-exact result. So a server that falls behind shows as latency (wrk2), and the
arrival rate is the one asked for. Without ``rate`` the run is closed-loop: each client runs its
operations one after the other and latency runs from each actual start.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Mapping

from pytest_execserver.client import ExecClient, connect
from pytest_execserver.load.limits import ensure_fd_capacity
from pytest_execserver.load.result import LoadResult
from pytest_execserver.load.schedule import Arrival, arrival_schedule, operation_count
from pytest_execserver.load.workload import one_shot_argv, output_mismatch, payload

ClientFactory = Callable[[str, int], Awaitable[ExecClient]]
START_LEAD_S = 0.05  # the schedule begins this long after the last client connected


async def _connect_ours(url: str, index: int) -> ExecClient:
    return await connect(url, client_id=f"load-{index}", recovery_deadline_s=30.0)


async def run_load_async(
    url: str,
    *,
    clients: int,
    processes_per_client: int | None = None,
    duration_s: float | None = None,
    rate: float | None = None,
    payload_bytes: int = 64,
    op_timeout_s: float = 60.0,
    env: Mapping[str, str] | None = None,
    client_factory: ClientFactory | None = None,
) -> LoadResult:
    """Run the load against ``url`` and return its :class:`LoadResult` (errors are counted, not raised).

    ``rate`` is operations per second over all clients (open loop); ``env`` is passed to every process
    (e.g. a marker the resource sampler looks for); ``client_factory(url, index)`` connects a client
    (default: ours).
    """
    per_client = operation_count(clients, processes_per_client, duration_s, rate)
    ensure_fd_capacity(clients)
    factory = client_factory or _connect_ours
    result = LoadResult(clients=clients, rate=rate)
    loop = asyncio.get_running_loop()
    cpu_before = time.process_time()

    async def open_client(index: int) -> ExecClient | None:
        began = loop.time()
        try:
            client = await factory(url, index)
        except Exception as exc:
            result.add_error(f"client {index}: connect failed: {exc!r}")
            return None
        result.connect.record_s(loop.time() - began)
        return client

    opened = await asyncio.gather(*(open_client(i) for i in range(clients)))
    start = loop.time() + START_LEAD_S
    schedule = arrival_schedule(clients, per_client or 0, rate)
    done_at = [start]

    async def operation(client: ExecClient, arrival: Arrival, intended: float) -> None:
        expected = payload(arrival.client, arrival.index, payload_bytes)
        try:
            outcome = await client.run(one_shot_argv(expected), env=env, timeout=op_timeout_s)
        except Exception as exc:
            result.add_error(f"client {arrival.client} op {arrival.index}: {exc!r}")
            return
        finally:
            done_at[0] = max(done_at[0], loop.time())
        finished = loop.time()
        problem = output_mismatch(expected, outcome.stdout, outcome.stderr, outcome.exit_code)
        if problem is not None:
            result.add_error(f"client {arrival.client} op {arrival.index}: {problem}")
            return
        result.operations += 1
        result.latency.record_s(finished - intended)

    async def drive(index: int, client: ExecClient | None) -> None:
        arrivals = schedule[index]
        if client is None:
            for _ in arrivals:
                result.add_error(f"client {index}: not connected")
            return
        if per_client is None:  # closed loop for duration_s
            assert duration_s is not None
            n = 0
            await asyncio.sleep(max(0.0, start - loop.time()))
            while loop.time() < start + duration_s:
                await operation(client, Arrival(index, n, None), loop.time())
                n += 1
            return
        tasks = []
        for arrival in arrivals:
            if arrival.at_s is None:
                await asyncio.sleep(max(0.0, start - loop.time()))
                await operation(client, arrival, loop.time())
                continue
            intended = start + arrival.at_s
            await asyncio.sleep(max(0.0, intended - loop.time()))
            tasks.append(asyncio.ensure_future(operation(client, arrival, intended)))
        await asyncio.gather(*tasks)

    try:
        await asyncio.gather(*(drive(i, c) for i, c in enumerate(opened)))
    finally:
        result.elapsed_s = max(0.0, done_at[0] - start)
        for client in opened:
            if client is not None:
                with contextlib.suppress(Exception):
                    await client.close()
        result.harness_cpu_s = time.process_time() - cpu_before
    return result


def run_load(
    url: str,
    *,
    clients: int,
    processes_per_client: int | None = None,
    duration_s: float | None = None,
    rate: float | None = None,
    payload_bytes: int = 64,
    op_timeout_s: float = 60.0,
    env: Mapping[str, str] | None = None,
) -> LoadResult:
    """Synchronous :func:`run_load_async` (its own event loop; call it outside a running loop)."""
    return asyncio.run(
        run_load_async(
            url, clients=clients, processes_per_client=processes_per_client, duration_s=duration_s, rate=rate,
            payload_bytes=payload_bytes, op_timeout_s=op_timeout_s, env=env,
        )
    )  # fmt: skip
