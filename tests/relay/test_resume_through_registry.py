"""A cut on the client's side of the relay while the client's registry sits behind the same proxy: codex
resumes by calling ``/connect`` again at once, inside the cut, and gives up when that one request fails.

Why the relay topology puts only the client's rendezvous websocket (not its registry) behind ``exec_proxy``
(docs/remote.md, "Codex's own executor behind the relay"). A finding on codex 0.171.0, as a strict xfail.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from pathlib import Path
from typing import Any

import pytest

from pytest_execserver.faults.toxi import ToxiproxyControl
from pytest_execserver.servers.confine import Confinement
from pytest_execserver.servers.relay_topology import CodexRemote, RelayProcess
from pytest_execserver.subjects.relay import RelayCodexSubject
from tests.relay.runs import delivered, run_paced

HOLD_S = 0.15  # how long the chaos suite's disconnect keeps its reset toxic (DEFAULT_HOLD_MS["reset"])

RESUME_FINDING = (
    "codex 0.171.0, client on the relay path: after its rendezvous websocket is reset mid-stream, the client "
    "calls /connect again 0.4 to 2.5 ms after the relay saw the close, and when that one request fails at "
    "the transport level (the reset still in place: the chaos suite holds a cut 150 ms) it fails the command "
    "('exec-server transport disconnected; failed to resume exec-server session: environment registry "
    "request failed: error sending request') instead of trying again; 11 of 12 such cuts in the chaos suite "
    "failed that way (reset 4/4, close 4/4, timeout 3/4), while the same cut on the direct path is recovered"
)


def _count(events: list[dict[str, Any]], event: str, **fields: str) -> int:
    return sum(1 for e in events if e["event"] == event and all(e.get(k) == v for k, v in fields.items()))


@pytest.mark.asyncio
@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason=RESUME_FINDING)
async def test_a_cut_covering_the_resume_connect_is_recovered(relay: RelayProcess, codex_executor: CodexRemote,
                                                              executor_scratch: Path, tmp_path: Path,
                                                              confinement: Confinement,
                                                              toxiproxy: ToxiproxyControl) -> None:
    name = f"relay-client-hop-{os.getpid()}"
    listen = toxiproxy.create_proxy(name, relay.url.removeprefix("http://"), listen="127.0.0.1:0")["listen"]
    client = RelayCodexSubject(f"http://{listen}", tmp_path / "client", confinement=confinement)
    try:
        await client.start()
        run = asyncio.ensure_future(run_paced(client, executor_scratch))
        await asyncio.to_thread(relay.wait_for, lambda ev: _count(ev, "frame", direction="to_harness",
                                                                  kind="data") >= 3, 60, "output flowing")
        closes = _count(relay.events(), "ws_close", role="harness")
        toxic = toxiproxy.add_toxic(name, "reset_peer", {"timeout": 0}, name="cut", stream="downstream")
        await asyncio.to_thread(relay.wait_for, lambda ev: _count(ev, "ws_close", role="harness") > closes, 15,
                                "the client's websocket closing")
        await asyncio.sleep(HOLD_S)  # the cut's own length, as the chaos suite holds it
        toxiproxy.remove_toxic(name, str(toxic["name"]))
        result = await run
        connects = _count(relay.events(), "connect_request")
        assert delivered(result), f"{result.describe()}; /connect calls: {connects}"
    finally:
        await client.close()
        with contextlib.suppress(Exception):
            toxiproxy.destroy_proxy(name)
