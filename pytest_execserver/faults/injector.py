"""Applying faults to a live Toxiproxy proxy (and to clients, for receiver lag) over a test's timeline.

:class:`Injector` owns one proxy for one test: it applies faults now or at ``at_ms`` after its start,
removes them after their duration, records each apply/remove as a ``fault`` history event, and on
:meth:`Injector.stop` removes everything and re-enables the proxy. Timed actions run on one daemon thread
(the Toxiproxy API is synchronous HTTP), so they keep their schedule while the test's event loop is busy.

What a fault does is its kind's business (:data:`pytest_execserver.faults.kinds.KINDS`): the injector is the
kinds' :class:`~pytest_execserver.faults.kinds.FaultTarget` and follows each kind's ``lifetime``: ``timed``
faults are removed after their duration, ``one_shot`` ones (receiver lag) need no removal, and
``until_cut`` ones (``disconnect``) cut the connections open at that moment once, then let reconnects
through: the cutting toxic is removed as soon as the history shows the cut (a ``reconnect`` or
``transport_error`` after the toxic went in, or a ``cut_probes`` witness) or after ``hold_ms``, whichever
comes first (``after_bytes`` cuts wait for the byte limit to be reached, so only the observed cut removes them).

A fault that cannot be applied (a Toxiproxy API error, an unreachable Toxiproxy) is never skipped
silently: the toxics it did add are taken out again, a ``fault`` event with ``action="error"`` is recorded,
the message (naming the fault and the error) goes to :attr:`Injector.errors`, and :class:`FaultApplyError`
is raised -- to the caller when the fault is applied at once, or, for a timed fault, kept in ``errors``,
which the plugin turns into a failure of the test.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol

from pytest_execserver.checks.history import History
from pytest_execserver.faults.kinds import Fault, LaggableClient, ToxicSpec
from pytest_execserver.faults.schedule import ScheduledFault
from pytest_execserver.faults.toxi import ToxiproxyControl, ToxiproxyError

HARNESS = "harness"
_POLL_S = 0.005


class ProtocolArming(Protocol):
    """Where protocol kinds are armed (:class:`pytest_execserver.faults.protolayer.ProtocolLayer`)."""

    def arm(self, fault: Fault) -> None: ...


class FaultApplyError(RuntimeError):
    """A fault could not be applied (or removed); the message names the fault and the underlying error."""


def record_fault(history: History | None, action: str, fault: Fault, *, at_ns: int | None = None,
                 **extra: Any) -> None:
    """A ``fault`` info event: ``kind`` plus the fault's parameters and ``action`` (apply/remove/...);
    ``at_ns``: when it happened (``time.monotonic_ns()``), when that was before now."""
    if history is None:
        return
    data = {k: v for k, v in fault.describe().items() if k != "kind"}
    data.update(extra)
    data["action"] = action
    history.record("info", "fault", HARNESS, at_ns=at_ns, kind=fault.kind, **data)


class Injector:
    """Faults for one proxy during one test."""

    def __init__(
        self,
        control: ToxiproxyControl,
        proxy: str,
        history: History | None,
        clients: Callable[[], Sequence[LaggableClient]] = lambda: (),
    ) -> None:
        self.control = control
        self.proxy = proxy
        self.history = history
        self._clients = clients
        self.t0 = time.monotonic()
        self.applied: list[Fault] = []  # every fault applied (for the report)
        self.errors: list[str] = []
        # Other witnesses of a cut (``probe(since_ns) -> bool``): a client that reports nothing to the
        # history (a foreign client under test) is seen cut in the server's journal instead.
        self.cut_probes: list[Callable[[int], bool]] = []
        self._active: dict[int, tuple[Fault, list[str]]] = {}
        self._ids = itertools.count()
        self._names = itertools.count(1)
        self._queue: list[tuple[float, int, Callable[[], None]]] = []
        self._cond = threading.Condition()
        self._stopped = False
        self._thread: threading.Thread | None = None
        self._lock = threading.RLock()
        # the websocket/JSON-RPC fault layer (set by exec_proxy; armed by the protocol kinds)
        self.protocol: ProtocolArming | None = None

    # ------------------------------------------------------------------------------------- timeline

    def elapsed_ms(self) -> float:
        return (time.monotonic() - self.t0) * 1000.0

    def restart_clock(self) -> None:
        """Count ``at_ms`` from now (the test body's start); actions already queued keep their times."""
        with self._cond:
            self.t0 = time.monotonic()

    def _at(self, at_ms: float, action: Callable[[], None]) -> None:
        with self._cond:
            heapq.heappush(self._queue, (self.t0 + at_ms / 1000.0, next(self._ids), action))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=f"execserver-faults-{self.proxy}",
                                                daemon=True)
                self._thread.start()
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopped and (not self._queue or self._queue[0][0] > time.monotonic()):
                    timeout = (self._queue[0][0] - time.monotonic()) if self._queue else None
                    self._cond.wait(timeout)
                if self._stopped:
                    return
                _, _, action = heapq.heappop(self._queue)
            try:
                action()
            except FaultApplyError:
                pass  # already in self.errors (the plugin fails the test with it)
            except Exception as exc:  # recorded, reported by the plugin; never kills the timeline
                self.errors.append(f"fault timeline: {type(exc).__name__}: {exc}")

    # ------------------------------------------------------------------------------------- faults

    def schedule(self, fault: Fault, at_ms: float | None = None, duration_ms: float | None = None) -> None:
        """Apply ``fault`` at ``at_ms`` (default: its own) for ``duration_ms`` (default: its own)."""
        start = fault.at_ms if at_ms is None else at_ms
        length = fault.duration_ms if duration_ms is None else duration_ms
        if start <= self.elapsed_ms() + 1:
            self._apply_and_time(fault, length)
        else:
            self._at(start, lambda: self._apply_and_time(fault, length))

    def run_schedule(self, schedule: Sequence[ScheduledFault]) -> None:
        for item in schedule:
            self.schedule(item.fault, item.at_ms, item.duration_ms)

    def _apply_and_time(self, fault: Fault, duration_ms: float | None) -> None:
        token = self.apply(fault)
        lifetime = fault.spec.lifetime
        if lifetime == "until_cut":
            self._watch_cut(token, fault)
        elif lifetime == "timed" and duration_ms is not None:
            self._at(self.elapsed_ms() + duration_ms, lambda: self.remove(token))

    # ------------------------------------------------------------------------- the kinds' FaultTarget

    def add_toxic(self, spec: ToxicSpec) -> None:
        self.control.add_toxic(self.proxy, spec.type, spec.attributes, name=spec.name, stream=spec.stream,
                               toxicity=spec.toxicity)

    def remove_toxic(self, name: str) -> None:
        try:
            self.control.remove_toxic(self.proxy, name)
        except ToxiproxyError as exc:
            if exc.status != 404:  # 404: already gone (e.g. the proxy was reset)
                raise

    def set_enabled(self, enabled: bool) -> None:
        if enabled:
            self.control.enable(self.proxy)
        else:
            self.control.disable(self.proxy)

    def clients(self) -> Sequence[LaggableClient]:
        return self._clients()

    def arm_protocol(self, fault: Fault) -> None:
        if self.protocol is None:
            raise FaultApplyError(f"fault {fault!r} is a protocol fault, but this proxy has no protocol layer")
        self.protocol.arm(fault)

    # ------------------------------------------------------------------------- apply / remove

    def apply(self, fault: Fault) -> int:
        """Apply now; returns a token for :meth:`remove`. Raises :class:`FaultApplyError` if it cannot."""
        with self._lock:
            token = next(self._ids)
            names: list[str] = []
            try:
                fault.spec.apply(fault, self, f"x{next(self._names)}-", names)
            except Exception as exc:
                for name in names:  # no half-applied fault
                    with contextlib.suppress(ToxiproxyError):
                        self.control.remove_toxic(self.proxy, name)
                raise self._failed("applied", fault, exc) from exc
            self.applied.append(fault)
            self._active[token] = (fault, names)
            # a protocol fault is armed now; its "apply" event is its firing (recorded by the protocol layer)
            action = "arm" if fault.spec.layer == "protocol" else "apply"
            record_fault(self.history, action, fault, at_ms=round(self.elapsed_ms(), 1), toxics=names)
            return token

    def _failed(self, what: str, fault: Fault, exc: BaseException) -> FaultApplyError:
        message = f"fault {fault!r} could not be {what} at +{self.elapsed_ms():.0f}ms: {type(exc).__name__}: {exc}"
        self.errors.append(message)
        record_fault(self.history, "error", fault, at_ms=round(self.elapsed_ms(), 1), message=message)
        return FaultApplyError(message)

    def remove(self, token: int) -> None:
        with self._lock:
            entry = self._active.pop(token, None)
            if entry is None:
                return
            fault, names = entry
            try:
                fault.spec.remove(fault, self, names)
            except Exception as exc:
                raise self._failed("removed", fault, exc) from exc
            record_fault(self.history, "remove", fault, at_ms=round(self.elapsed_ms(), 1))

    def _watch_cut(self, token: int, fault: Fault) -> None:
        """Remove a disconnect's toxic once the cut was observed (or its hold time passed)."""
        since_ns = time.monotonic_ns()
        hold_s = None if fault.params["after_bytes"] is not None else float(fault.params["hold_ms"]) / 1000
        deadline = None if hold_s is None else time.monotonic() + hold_s

        def poll() -> None:
            if token not in self._active:
                return
            if self._cut_seen(since_ns) or (deadline is not None and time.monotonic() >= deadline):
                self.remove(token)
            else:
                self._at(self.elapsed_ms() + _POLL_S * 1000, poll)

        self._at(self.elapsed_ms() + _POLL_S * 1000, poll)

    def _cut_seen(self, since_ns: int) -> bool:
        if any(probe(since_ns) for probe in self.cut_probes):
            return True
        if self.history is None:
            return False
        return any(
            e.time_ns >= since_ns and (e.op == "transport_error" or (e.op == "reconnect" and e.kind == "invoke"))
            for e in self.history.events[-50:]
        )

    @contextlib.contextmanager
    def down(self) -> Iterator[None]:
        """The proxy is disabled (connections dropped and refused) inside the ``with`` block."""
        token = self.apply(Fault("down", duration_ms=0))
        try:
            yield
        finally:
            self.remove(token)

    # ------------------------------------------------------------------------------------- teardown

    def stop(self) -> None:
        """Stop the timeline, remove every toxic and re-enable the proxy."""
        with self._cond:
            self._stopped = True
            self._queue.clear()
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=5)
        for token in list(self._active):
            with contextlib.suppress(FaultApplyError):
                self.remove(token)
        with contextlib.suppress(ToxiproxyError):
            for toxic in self.control.toxics(self.proxy):
                self.control.remove_toxic(self.proxy, str(toxic["name"]))
            self.control.enable(self.proxy)
