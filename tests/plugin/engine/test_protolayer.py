"""The protocol layer's bookkeeping: Toxiproxy re-pointed on first use and back, firings in the history at
the message's time, process kinds acted on, a failing one reported (a fake server control; no server)."""

from __future__ import annotations

import asyncio
import time

from pytest_execserver.checks.history import History
from pytest_execserver.faults.kinds import Fault
from pytest_execserver.faults.protocol import FaultEvent
from pytest_execserver.faults.protolayer import ProtocolLayer


class Server:
    def __init__(self, fail: bool = False) -> None:
        self.calls: list[str] = []
        self.fail = fail

    def restart_in_place(self) -> None:
        self.calls.append("restart")
        if self.fail:
            raise RuntimeError("did not come back")

    def pause(self) -> None:
        self.calls.append("pause")

    def resume(self) -> None:
        self.calls.append("resume")


def _event(fault: Fault, t_ns: int, phase: str = "fire") -> FaultEvent:
    proxy_fault = fault.spec.protocol_fault(fault.params)  # type: ignore[attr-defined]
    return FaultEvent(t_ns, fault.kind, proxy_fault.trigger.spec, proxy_fault.nth, 1, "to_client",
                      "response process/start id=2", phase, proxy_fault.params())


def _actions(history: History) -> list[tuple[str, str]]:
    return [(str(e.data["kind"]), str(e.data["action"])) for e in history.events if e.op == "fault"]


def test_lazy_start_repoint_and_history() -> None:
    history, pointed, server = History(), [], Server()
    layer = ProtocolLayer("ws://127.0.0.1:9", pointed.append, history, server=server)
    assert not layer.running and pointed == []  # nothing armed: no proxy, Toxiproxy untouched
    drop = Fault("drop", on="process/start:response")
    restart = Fault("server_restart", on="process/start:response")
    layer.arm(drop)
    layer.arm(restart)
    assert layer.running and pointed == [layer.address]
    t = time.monotonic_ns() - 5_000_000
    asyncio.run(layer._on_fire(_event(drop, t)))
    asyncio.run(layer._on_fire(_event(restart, t + 1)))
    assert server.calls == ["restart"]
    assert _actions(history) == [("drop", "apply"), ("drop", "remove"), ("server_restart", "apply"),
                                 ("server_restart", "remove")]
    assert history.events[0].time_ns == t  # at the message's time, not the record's
    layer.stop()
    assert pointed[-1] == "127.0.0.1:9" and not layer.running


def test_a_failing_process_fault_is_an_error() -> None:
    history, server = History(), Server(fail=True)
    layer = ProtocolLayer("ws://127.0.0.1:9", lambda _: None, history, server=server)
    restart = Fault("server_restart", on="process/start:response")
    layer.arm(restart)
    try:
        asyncio.run(layer._on_fire(_event(restart, time.monotonic_ns())))
    finally:
        layer.stop()
    assert layer.errors and "did not come back" in layer.errors[0]
    assert ("server_restart", "error") in _actions(history)


def test_server_pause_resumes_at_stop() -> None:
    server = Server()
    layer = ProtocolLayer("ws://127.0.0.1:9", lambda _: None, History(), server=server)
    pause = Fault("server_pause", ms=60_000, on="process/output")
    layer.arm(pause)
    asyncio.run(layer._on_fire(_event(pause, time.monotonic_ns())))
    layer.stop()  # long before its 60 s: the server is never left stopped
    assert server.calls == ["pause", "resume"]
