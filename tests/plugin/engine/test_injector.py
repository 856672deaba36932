"""The fault injector against a fake Toxiproxy (no I/O): history events, failed applies, receiver lag."""

from __future__ import annotations

import time
from typing import Any

import pytest

from pytest_execserver.checks.history import History
from pytest_execserver.client import ExecClient
from pytest_execserver.client.events import OutputChunk
from pytest_execserver.client.process import ProcessHandle
from pytest_execserver.faults.injector import FaultApplyError, Injector
from pytest_execserver.faults.kinds import Fault
from pytest_execserver.faults.toxi import ToxiproxyControl, ToxiproxyError


class FakeControl:
    """Records toxics; ``fail_on`` names a toxic whose creation answers like Toxiproxy on a name clash."""

    def __init__(self, fail_on: str | None = None) -> None:
        self.toxics_by_name: dict[str, dict[str, Any]] = {}
        self.fail_on = fail_on
        self.enabled = True

    def add_toxic(self, proxy: str, type: str, attributes: dict[str, Any], *, name: str, stream: str,
                  toxicity: float) -> dict[str, Any]:
        if name == self.fail_on:
            raise ToxiproxyError(409, "toxic already exists")
        self.toxics_by_name[name] = {"name": name, "type": type, "stream": stream}
        return self.toxics_by_name[name]

    def remove_toxic(self, proxy: str, name: str) -> None:
        if self.toxics_by_name.pop(name, None) is None:
            raise ToxiproxyError(404, "toxic not found")

    def toxics(self, proxy: str) -> list[dict[str, Any]]:
        return list(self.toxics_by_name.values())

    def disable(self, proxy: str) -> None:
        self.enabled = False

    def enable(self, proxy: str) -> None:
        self.enabled = True


def injector(control: FakeControl, history: History, clients: Any = lambda: ()) -> Injector:
    fake: Any = control
    real: ToxiproxyControl = fake
    return Injector(real, "proxy", history, clients)


def test_fault_events_carry_kind() -> None:
    history = History()
    inj = injector(FakeControl(), history)
    token = inj.apply(Fault("latency", ms=20))
    inj.remove(token)
    events = history.select("fault")
    assert [e.data["action"] for e in events] == ["apply", "remove"]
    assert all(e.data["kind"] == "latency" and "fault_kind" not in e.data for e in events)
    assert events[0].kind == "info" and events[0].data["ms"] == 20
    assert events[0].data["toxics"] == ["x1-latency-upstream", "x1-latency-downstream"]


def test_failed_apply_raises_names_the_fault_and_cleans_up() -> None:
    history = History()
    control = FakeControl(fail_on="x1-latency-downstream")
    inj = injector(control, history)
    with pytest.raises(FaultApplyError) as info:
        inj.apply(Fault("latency", ms=20))
    message = str(info.value)
    assert message.startswith("fault Fault('latency', ")
    assert "could not be applied" in message and "ToxiproxyError: toxiproxy 409: toxic already exists" in message
    assert control.toxics_by_name == {}, "the half-applied fault's toxics must be removed"
    assert inj.errors == [message] and inj.applied == []
    (event,) = history.select("fault")
    assert event.data["action"] == "error" and event.data["kind"] == "latency" and event.data["message"] == message


def test_timed_fault_failure_is_kept_in_errors() -> None:
    history = History()
    inj = injector(FakeControl(fail_on="x1-bandwidth-downstream"), history)
    try:
        inj.schedule(Fault("bandwidth", kbps=64, at_ms=30))
        deadline = time.monotonic() + 5
        while not inj.errors and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        inj.stop()
    assert len(inj.errors) == 1
    assert "fault Fault('bandwidth'" in inj.errors[0] and "toxiproxy 409: toxic already exists" in inj.errors[0]


async def test_receiver_lag_queue_limit_reaches_running_processes() -> None:
    """``queue_limit`` with ``at_ms > 0`` lands while processes run: their queues must shrink too."""
    client = ExecClient("ws://127.0.0.1:1", queue_limit=4096)
    running = ProcessHandle(client, "p-running", client.queue_limit)
    finished = ProcessHandle(client, "p-done", client.queue_limit)
    finished.done.set()
    client.processes = {"p-running": running, "p-done": finished}
    history = History()
    inj = injector(FakeControl(), history, lambda: [client])
    inj.apply(Fault("receiver_lag", pause_ms=50, queue_limit=2, at_ms=100))
    assert client.queue_limit == 2 and running.queue_limit == 2
    later = ProcessHandle(client, "p-later", client.queue_limit)
    assert later.queue_limit == 2
    # the running process now overflows at 2 queued notifications: receiver lag, recovered by read-back
    for seq in (1, 2, 3):
        running.on_wire_event(OutputChunk(seq, "stdout", b"x"))
    assert running.queue.qsize() == 2 and running.recover_reason == "lag"
