"""Faults: a pure description (:class:`Fault`) and its translation into Toxiproxy toxics.

A :class:`Fault` is validated when it is built, so a malformed ``@pytest.mark.fault(...)`` is reported at
collection time. Nothing in this module does I/O: :meth:`Fault.toxics` says which toxics realise a
network fault, and :mod:`pytest_execserver.fixtures` applies them through ``pytest_execserver.toxi``.

Kinds and parameters (times in milliseconds):

``latency``       ``ms`` (required), ``jitter`` (0), ``direction`` (``both``|``upstream``|``downstream``)
``bandwidth``     ``kbps`` (required, kilobits/s; Toxiproxy's unit is KB/s, so the rate is ``ceil(kbps/8)``)
``slicer``        ``average_size`` (64 bytes), ``size_variation`` (0), ``delay_us`` (0), ``direction``
``disconnect``    ``after_ms`` *or* ``after_bytes`` (default ``after_ms=0``), ``mode`` (``reset``|``close``|
                  ``timeout``), ``hold_ms`` (how long the cutting toxic stays at most; it is removed as
                  soon as the client reports the cut, so reconnects get through)
``down``          proxy disabled (connections refused) for ``duration_ms`` (200)
``receiver_lag``  client side: the consumer pauses for ``pause_ms`` (500); ``queue_limit`` shrinks the
                  notification queues (of running processes too) so the pause overflows them

``latency``/``bandwidth``/``slicer``/``down``/``receiver_lag`` also take ``at_ms`` (0: when to apply,
relative to the test's start) and ``duration_ms`` (``None``: until the test ends).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

DIRECTIONS = ("both", "upstream", "downstream")
DISCONNECT_MODES = ("reset", "close", "timeout")

# Toxiproxy stream names: upstream = client -> server, downstream = server -> client.
_STREAMS = {"both": ("upstream", "downstream"), "upstream": ("upstream",), "downstream": ("downstream",)}


class FaultError(ValueError):
    """A fault was described with an unknown kind or bad parameters; the message says which."""


_MISSING: Any = object()


@dataclass(frozen=True)
class _Param:
    kind: str  # "ms" (non-negative number), "count" (non-negative int), "positive", "choice", "bool"
    default: Any = _MISSING
    choices: tuple[str, ...] = ()
    optional: bool = False  # default None allowed


def _ms(default: Any = _MISSING, optional: bool = False) -> _Param:
    return _Param("ms", default, optional=optional)


_TIMING = {"at_ms": _ms(0), "duration_ms": _ms(None, optional=True)}

PARAMS: dict[str, dict[str, _Param]] = {
    "latency": {
        "ms": _ms(),
        "jitter": _ms(0),
        "direction": _Param("choice", "both", DIRECTIONS),
        **_TIMING,
    },
    "bandwidth": {
        "kbps": _Param("positive"),
        "direction": _Param("choice", "both", DIRECTIONS),
        **_TIMING,
    },
    "slicer": {
        "average_size": _Param("count", 64),
        "size_variation": _Param("count", 0),
        "delay_us": _Param("count", 0),
        "direction": _Param("choice", "both", DIRECTIONS),
        **_TIMING,
    },
    "disconnect": {
        "after_ms": _ms(None, optional=True),
        "after_bytes": _Param("count", None, optional=True),
        "mode": _Param("choice", "reset", DISCONNECT_MODES),
        "hold_ms": _ms(None, optional=True),
    },
    "down": {"at_ms": _ms(0), "duration_ms": _ms(200)},
    "receiver_lag": {
        "pause_ms": _ms(500),
        "queue_limit": _Param("positive", None, optional=True),
        "at_ms": _ms(0),
    },
}

FAULT_KINDS: tuple[str, ...] = tuple(PARAMS)
NETWORK_KINDS = ("latency", "bandwidth", "slicer", "disconnect", "down")
CLIENT_KINDS = ("receiver_lag",)

# How long a disconnect's cutting toxic stays (at most) when hold_ms is not given.
DEFAULT_HOLD_MS = {"reset": 150, "close": 150, "timeout": 1500}


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _check_param(kind: str, name: str, spec: _Param, value: Any) -> Any:
    where = f"fault {kind!r}: parameter {name!r}"
    if value is None and spec.optional:
        return None
    if spec.kind == "ms":
        if not _is_number(value):
            raise FaultError(f"{where} must be a number of milliseconds, got {value!r}")
        if value < 0:
            raise FaultError(f"{where} must be >= 0 ms, got {value!r}")
        return value
    if spec.kind == "count":
        if not isinstance(value, int) or isinstance(value, bool):
            raise FaultError(f"{where} must be an integer, got {value!r}")
        if value < 0:
            raise FaultError(f"{where} must be >= 0, got {value!r}")
        return value
    if spec.kind == "positive":
        if not _is_number(value) or value <= 0:
            raise FaultError(f"{where} must be a positive number, got {value!r}")
        return value
    if spec.kind == "choice":
        if value not in spec.choices:
            raise FaultError(f"{where} must be one of {', '.join(spec.choices)}; got {value!r}")
        return value
    raise AssertionError(spec.kind)  # pragma: no cover


def validate(kind: Any, params: Mapping[str, Any]) -> dict[str, Any]:
    """Check ``kind`` and ``params`` and return the full parameter dict (defaults filled in)."""
    if not isinstance(kind, str) or kind not in PARAMS:
        raise FaultError(f"unknown fault kind {kind!r}; known kinds: {', '.join(FAULT_KINDS)}")
    spec = PARAMS[kind]
    unknown = sorted(set(params) - set(spec))
    if unknown:
        raise FaultError(
            f"fault {kind!r}: unknown parameter(s) {', '.join(unknown)}; accepted: {', '.join(spec)}"
        )
    out: dict[str, Any] = {}
    for name, pspec in spec.items():
        if name in params:
            out[name] = _check_param(kind, name, pspec, params[name])
        elif pspec.default is _MISSING:
            raise FaultError(f"fault {kind!r}: missing required parameter {name!r}")
        else:
            out[name] = pspec.default
    if kind == "disconnect":
        if out["after_ms"] is not None and out["after_bytes"] is not None:
            raise FaultError("fault 'disconnect': give after_ms or after_bytes, not both")
        if out["after_bytes"] is None and out["after_ms"] is None:
            out["after_ms"] = 0
        if out["hold_ms"] is None:
            out["hold_ms"] = DEFAULT_HOLD_MS[out["mode"]]
    if kind == "slicer" and out["average_size"] == 0:
        raise FaultError("fault 'slicer': parameter 'average_size' must be >= 1")
    if kind == "receiver_lag" and out["queue_limit"] is not None and not isinstance(out["queue_limit"], int):
        raise FaultError(f"fault 'receiver_lag': parameter 'queue_limit' must be an integer, got "
                         f"{out['queue_limit']!r}")
    return out


@dataclass(frozen=True)
class ToxicSpec:
    """One Toxiproxy toxic: ``type``, ``stream``, ``attributes`` as the HTTP API takes them."""

    name: str
    type: str
    stream: str
    attributes: dict[str, Any]
    toxicity: float = 1.0

    def to_api(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "stream": self.stream,
            "toxicity": self.toxicity,
            "attributes": dict(self.attributes),
        }


class Fault:
    """A validated fault: ``Fault("latency", ms=100, jitter=20)``.

    Equality and hashing are by ``(kind, params)``; ``params`` holds every parameter with defaults filled.
    """

    __slots__ = ("_items", "kind", "params")
    kind: str
    params: dict[str, Any]
    _items: tuple[tuple[str, Any], ...]

    def __init__(self, kind: str, /, **params: Any) -> None:
        full = validate(kind, params)
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "params", full)
        object.__setattr__(self, "_items", tuple(sorted(full.items())))

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Fault is immutable")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Fault) and (self.kind, self._items) == (other.kind, other._items)

    def __hash__(self) -> int:
        return hash((self.kind, self._items))

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v!r}" for k, v in self._items if v is not None)
        return f"Fault({self.kind!r}{', ' if shown else ''}{shown})"

    def __getitem__(self, name: str) -> Any:
        return self.params[name]

    def replace(self, **params: Any) -> Fault:
        """A copy with some parameters changed (validated again)."""
        base = {k: v for k, v in self.params.items() if v is not None or k in params}
        if self.kind == "disconnect" and "after_bytes" in params:
            base.pop("after_ms", None)
        if self.kind == "disconnect" and "after_ms" in params:
            base.pop("after_bytes", None)
        base.update(params)
        return Fault(self.kind, **base)

    @property
    def is_network(self) -> bool:
        return self.kind in NETWORK_KINDS

    @property
    def at_ms(self) -> float:
        """When the fault starts, relative to the start of the test."""
        if self.kind == "disconnect":
            return float(self.params["after_ms"] or 0)
        return float(self.params.get("at_ms", 0))

    @property
    def duration_ms(self) -> float | None:
        """How long the fault lasts (``None``: until the test ends)."""
        if self.kind == "disconnect":
            return float(self.params["hold_ms"])
        if self.kind == "receiver_lag":
            return float(self.params["pause_ms"])
        value = self.params.get("duration_ms")
        return None if value is None else float(value)

    def describe(self) -> dict[str, Any]:
        """JSON-friendly ``{"kind": ..., **params}`` (for history ``fault`` events and reports)."""
        return {"kind": self.kind, **{k: v for k, v in self._items if v is not None}}

    def toxics(self, prefix: str = "") -> list[ToxicSpec]:
        """The toxics that realise this fault (empty for ``down`` and ``receiver_lag``)."""
        p = self.params
        name = f"{prefix}{self.kind}"
        if self.kind == "latency":
            return [
                ToxicSpec(f"{name}-{s}", "latency", s, {"latency": int(p["ms"]), "jitter": int(p["jitter"])})
                for s in _STREAMS[p["direction"]]
            ]
        if self.kind == "bandwidth":
            rate = max(1, math.ceil(p["kbps"] / 8))
            return [ToxicSpec(f"{name}-{s}", "bandwidth", s, {"rate": rate}) for s in _STREAMS[p["direction"]]]
        if self.kind == "slicer":
            attrs = {
                "average_size": p["average_size"],
                "size_variation": min(p["size_variation"], max(p["average_size"] - 1, 0)),
                "delay": p["delay_us"],
            }
            return [ToxicSpec(f"{name}-{s}", "slicer", s, dict(attrs)) for s in _STREAMS[p["direction"]]]
        if self.kind == "disconnect":
            if p["after_bytes"] is not None:
                # limit_data closes a connection once that many bytes went from server to client.
                return [ToxicSpec(f"{name}-downstream", "limit_data", "downstream", {"bytes": p["after_bytes"]})]
            if p["mode"] == "reset":
                return [ToxicSpec(f"{name}-downstream", "reset_peer", "downstream", {"timeout": 0})]
            if p["mode"] == "close":
                # timeout toxic with a (tiny) timeout: data is dropped and the connection closed (FIN).
                return [ToxicSpec(f"{name}-downstream", "timeout", "downstream", {"timeout": 1})]
            # "timeout": the connection stays open but silent until the toxic is removed.
            return [
                ToxicSpec(f"{name}-{s}", "timeout", s, {"timeout": 0}) for s in ("upstream", "downstream")
            ]
        return []


def coerce_fault(value: Any, where: str = "") -> Fault:
    """A :class:`Fault` from a Fault, a kind name, or a ``{"kind": ..., **params}`` mapping."""
    if isinstance(value, Fault):
        return value
    if isinstance(value, str):
        return Fault(value)
    if isinstance(value, Mapping) and "kind" in value:
        params = dict(value)
        kind = params.pop("kind")
        return Fault(kind, **params)
    raise FaultError(f"{where}expected a fault kind name or a Fault object, got {value!r}")


def kind_or_fault(value: Any) -> str | Fault:
    """Validate a chaos entry: a known kind name (params drawn from the seed) or a Fault."""
    if isinstance(value, Fault):
        return value
    if isinstance(value, str):
        if value not in PARAMS:
            raise FaultError(f"unknown fault kind {value!r}; known kinds: {', '.join(FAULT_KINDS)}")
        return value
    raise FaultError(f"expected a fault kind name or a Fault object, got {value!r}")

