"""The reference server behind ``codex exec-server forward`` (codex 0.171.0) and the relay, under relay faults,
with the reference server's journal as ground truth: what the process emitted against what codex delivered."""

from __future__ import annotations

import asyncio
import shlex
import time
from pathlib import Path

import pytest

from pytest_execserver.checks.journal import Journal, JournalProcess
from pytest_execserver.servers.launch import ServerProcess
from pytest_execserver.servers.relay_topology import CodexRemote, RelayProcess
from pytest_execserver.subjects.relay import RelayCodexSubject
from tests.relay.runs import PACED, PACED_OUTPUT, delivered, delivered_or_reported, fired, named, run_paced

pytestmark = pytest.mark.codex


def the_process(server: ServerProcess, argv: list[str] = PACED) -> JournalProcess:
    """The one process the reference server started for ``argv`` (codex runs it under ``bash -c``)."""
    assert server.journal_path is not None
    started = [p for p in Journal.load(server.journal_path).processes() if shlex.join(argv) in " ".join(p.argv)]
    assert len(started) == 1, f"{len(started)} processes for the command in the reference server's journal"
    return started[0]


async def test_forwarded_run_matches_the_reference_journal(relay: RelayProcess, forwarded_ref: CodexRemote,
                                                           ref_server: ServerProcess,
                                                           relay_client: RelayCodexSubject,
                                                           executor_scratch: Path) -> None:
    run = await run_paced(relay_client, executor_scratch)
    assert delivered(run), run.describe()
    process = the_process(ref_server)
    assert process.stdout == PACED_OUTPUT and process.exit_code == 4


async def test_stream_reset_through_forward_resumes_the_session(relay: RelayProcess, forwarded_ref: CodexRemote,
                                                                ref_server: ServerProcess,
                                                                relay_client: RelayCodexSubject,
                                                                executor_scratch: Path) -> None:
    relay.post_faults({"kind": "frame", "action": "reset", "direction": "to_harness", "nth": 5,
                       "reason": "relay_chaos"})
    run = await run_paced(relay_client, executor_scratch)
    assert fired(relay)
    assert delivered(run), run.describe()
    assert len(named(relay, "stream_open")) >= 2
    process = the_process(ref_server)  # started once: the retry did not run the command again
    assert process.stdout == PACED_OUTPUT
    assert ref_server.journal_path is not None
    journal = Journal.load(ref_server.journal_path)
    assert len(journal.connections()) >= 2, "forward did not open a new connection for the new stream"
    assert any(s.resumed for s in journal.sessions()), "codex did not resume its session on the new stream"


SLOW = ["/bin/sh", "-c", "for i in $(seq 1 20); do echo slow-$i; sleep 0.1; done; exit 4"]
SLOW_OUTPUT = "".join(f"slow-{i}\n" for i in range(1, 21)).encode()


async def wait_for_chunks(server: ServerProcess, argv: list[str], chunks: int, timeout_s: float = 30.0) -> None:
    """Until the reference server's journal shows ``chunks`` output chunks of the process running ``argv``."""
    assert server.journal_path is not None
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = [p for p in Journal.load(server.journal_path).processes() if shlex.join(argv) in " ".join(p.argv)]
        if found and len(found[0].chunks) >= chunks:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"the process did not emit {chunks} chunks within {timeout_s} s")


@pytest.mark.xfail(strict=True, reason=(
    "codex 0.171.0 through forward: one executor-to-client data frame dropped while the command prints (the "
    "first after its 3rd output chunk). The reference server's journal shows all 20 lines and exit 4 about "
    "2 s in; codex delivered nothing after the gap (every later frame waits behind the missing one) and "
    "told the model 'Process running' with 3 of 20 lines at its 6.0 s budget, then sent process/terminate; "
    "no new stream, no reset."))
async def test_dropped_output_frame_through_forward_is_recovered_or_reported(
        relay: RelayProcess, forwarded_ref: CodexRemote, ref_server: ServerProcess,
        relay_client: RelayCodexSubject, executor_scratch: Path) -> None:
    task = asyncio.create_task(run_paced(relay_client, executor_scratch, argv=SLOW, timeout_ms=6_000,
                                         margin_s=8.0))
    await wait_for_chunks(ref_server, SLOW, 3)
    relay.post_faults({"kind": "frame", "action": "drop", "direction": "to_harness", "nth": 1})
    run = await task
    assert fired(relay), "no data frame reached the client after the fault was installed"
    process = the_process(ref_server, SLOW)
    assert (process.stdout, process.exit_code) == (SLOW_OUTPUT, 4), "the command itself did not complete"
    assert delivered_or_reported(run, SLOW_OUTPUT), (
        f"{run.describe()}; streams {len(named(relay, 'stream_open'))}, "
        f"relay resets {len(named(relay, 'stream_reset'))}")
