"""Relay and registry faults as data: a match (what, which direction, the nth time) and an action.

A plan is a list of faults, each firing ``times`` times (then spent). It is installed in-process
(``RelayRouter.plan`` / ``Registry.plan``) or over HTTP (``POST /faults`` with ``{"faults": [...]}``, each
fault a JSON object with a ``"kind"``: the snake-case names below). The relay applies faults; the code
under test is never changed.

- ``frame``: on the ``nth`` frame of ``frame_kind`` (default ``data``) going ``direction`` (``to_harness``:
  executor to client, ``to_environment``: client to executor, or ``any``), do ``action``: ``drop``,
  ``duplicate``, ``reorder`` (hold it until the next frame of that stream and direction has gone),
  ``delay`` (``delay_s``; later frames on that connection wait behind it), ``reset`` (drop it and send
  ``reset(reason)`` to both ends of the stream), ``cut_environment`` / ``cut_harness`` (close that
  websocket instead of forwarding).
- ``upgrade``: the next ``times`` websocket upgrades of ``role`` are refused with ``status`` and the
  ``x-codex-rendezvous-rejection-reason`` header ``reason`` (401 ``invalid_signature``, 4xx ``pod_draining``).
- ``registry``: the ``nth`` call to ``endpoint`` (``register``, ``connect``, ``validate``) answers
  ``status`` with ``{"error": {"code", "message"}}`` (409 ``environment_offline``, 5xx, 408, 429), or,
  with ``status`` 200, answers normally after ``delay_s`` (a slow ``/validate``) and/or with
  ``"valid": false``.
- ``reregister``: applied at once: the executor's websocket is closed and its next upgrade refused with
  404 ``unknown_route``, which makes codex register again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

DIRECTIONS = ("to_harness", "to_environment", "any")
FRAME_ACTIONS = ("drop", "duplicate", "reorder", "delay", "reset", "cut_environment", "cut_harness")
ROLES = ("environment", "harness")
ENDPOINTS = ("register", "connect", "validate")


class FaultSpecError(ValueError):
    """A fault description that does not make sense; the text says what is wrong."""


@dataclass
class FrameFault:
    """Act on the ``nth`` matching frame (1-based, counted from when the fault was installed)."""

    action: str
    direction: str = "to_harness"
    frame_kind: str = "data"
    nth: int = 1
    times: int = 1
    delay_s: float = 0.0
    reason: str = "relay_fault"
    seen: int = field(default=0, compare=False)

    kind = "frame"

    def __post_init__(self) -> None:
        if self.action not in FRAME_ACTIONS:
            raise FaultSpecError(f"frame action {self.action!r}; expected one of {FRAME_ACTIONS}")
        if self.direction not in DIRECTIONS:
            raise FaultSpecError(f"direction {self.direction!r}; expected one of {DIRECTIONS}")
        _check_counts(self.nth, self.times)
        if self.delay_s < 0:
            raise FaultSpecError("delay_s must be >= 0")
        if not 1 <= len(self.reason.encode()) <= 256:
            raise FaultSpecError("reason must be 1 to 256 bytes")

    def matches(self, direction: str, frame_kind: str) -> bool:
        """Count a frame; True when this one is to be acted on."""
        if self.times <= 0 or frame_kind != self.frame_kind or self.direction not in ("any", direction):
            return False
        self.seen += 1
        if self.seen < self.nth:
            return False
        self.times -= 1
        return True


@dataclass
class UpgradeFault:
    """Refuse the next ``times`` upgrades of ``role`` with ``status`` and a rejection reason."""

    role: str = "harness"
    status: int = 401
    reason: str = "invalid_signature"
    times: int = 1

    kind = "upgrade"

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise FaultSpecError(f"role {self.role!r}; expected one of {ROLES}")
        if not 400 <= self.status <= 599:
            raise FaultSpecError(f"upgrade rejection status {self.status} is not an HTTP error")
        _check_counts(1, self.times)


@dataclass
class RegistryFault:
    """The ``nth`` call to ``endpoint`` answers an error, or answers late, or says ``valid: false``."""

    endpoint: str
    status: int = 503
    code: str = "unavailable"
    message: str = "injected by the relay's fault plan"
    delay_s: float = 0.0
    valid: bool = True
    nth: int = 1
    times: int = 1
    seen: int = field(default=0, compare=False)

    kind = "registry"

    def __post_init__(self) -> None:
        if self.endpoint not in ENDPOINTS:
            raise FaultSpecError(f"endpoint {self.endpoint!r}; expected one of {ENDPOINTS}")
        if not 200 <= self.status <= 599:
            raise FaultSpecError(f"status {self.status} out of range")
        if self.delay_s < 0:
            raise FaultSpecError("delay_s must be >= 0")
        _check_counts(self.nth, self.times)

    def matches(self, endpoint: str) -> bool:
        """Count a call; True when this one is to be faulted."""
        if self.times <= 0 or endpoint != self.endpoint:
            return False
        self.seen += 1
        if self.seen < self.nth:
            return False
        self.times -= 1
        return True


@dataclass
class ReregisterFault:
    """Close the executor's websocket and refuse its next upgrade (404 ``unknown_route``)."""

    environment_id: str | None = None  # None: every environment
    kind = "reregister"


Fault = FrameFault | UpgradeFault | RegistryFault | ReregisterFault
_CLASSES: dict[str, type[FrameFault] | type[UpgradeFault] | type[RegistryFault] | type[ReregisterFault]] = {
    "frame": FrameFault, "upgrade": UpgradeFault, "registry": RegistryFault, "reregister": ReregisterFault,
}


def _check_counts(nth: int, times: int) -> None:
    if nth < 1:
        raise FaultSpecError("nth must be >= 1")
    if times < 1:
        raise FaultSpecError("times must be >= 1")


def fault_from_json(spec: Any) -> Fault:
    """Build one fault from its JSON object (``{"kind": "frame", "action": "drop", "nth": 5}``)."""
    if not isinstance(spec, Mapping):
        raise FaultSpecError(f"a fault is a JSON object, got {type(spec).__name__}")
    kind = spec.get("kind")
    cls = _CLASSES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise FaultSpecError(f"fault kind {kind!r}; expected one of {sorted(_CLASSES)}")
    allowed = {f.name for f in fields(cls) if f.name != "seen"}
    unknown = set(spec) - allowed - {"kind"}
    if unknown:
        raise FaultSpecError(f"unknown field(s) for a {kind} fault: {sorted(unknown)}; allowed: {sorted(allowed)}")
    try:
        return cls(**{k: v for k, v in spec.items() if k != "kind"})
    except TypeError as exc:
        raise FaultSpecError(str(exc)) from None


def fault_to_json(fault: Fault) -> dict[str, Any]:
    """The JSON object of a fault, with what is left of it (``times``, ``seen``)."""
    out: dict[str, Any] = {"kind": fault.kind}
    out.update({f.name: getattr(fault, f.name) for f in fields(fault)})
    return out


@dataclass
class FaultPlan:
    """The faults in force; spent ones stay listed (``times`` 0) so a test can see they fired."""

    faults: list[Fault] = field(default_factory=list)

    def add(self, fault: Fault) -> None:
        self.faults.append(fault)

    def clear(self) -> None:
        self.faults.clear()

    def frame_action(self, direction: str, frame_kind: str) -> FrameFault | None:
        """The frame fault to apply to this frame, if any (every live fault counts the frame)."""
        hit = None
        for fault in self.faults:
            if isinstance(fault, FrameFault) and fault.matches(direction, frame_kind) and hit is None:
                hit = fault
        return hit

    def upgrade_rejection(self, role: str) -> UpgradeFault | None:
        for fault in self.faults:
            if isinstance(fault, UpgradeFault) and fault.role == role and fault.times > 0:
                fault.times -= 1
                return fault
        return None

    def registry_fault(self, endpoint: str) -> RegistryFault | None:
        hit = None
        for fault in self.faults:
            if isinstance(fault, RegistryFault) and fault.matches(endpoint) and hit is None:
                hit = fault
        return hit

    def to_json(self) -> list[dict[str, Any]]:
        return [fault_to_json(f) for f in self.faults]
