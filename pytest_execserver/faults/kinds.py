"""Faults: one class per kind, in one registry, and :class:`Fault`, a validated instance of a kind.

Each kind (a :class:`FaultKind` subclass registered with :func:`register`) is the one home of everything
about it: its parameters (names, types, defaults, validation), the Toxiproxy toxics that realise it, how
a seeded schedule draws it, how it is applied and removed (through a :class:`FaultTarget`) and how long
it lives. Markers (:mod:`.markers`), schedules (:mod:`.schedule`), the injector (:mod:`.injector`) and
``exec_proxy`` (:mod:`.fixtures`) all read :data:`KINDS`; adding a fault kind means adding one class.

Nothing here does I/O: a :class:`FaultTarget` (the injector, over one Toxiproxy proxy and the test's
clients) does it. A :class:`Fault` is validated when it is built, so a malformed marker is reported at
collection time.

Kinds and parameters (times in milliseconds; every kind takes ``at_ms``, when it starts after the test's
start: default 0, and 150 for the cutting kinds ``disconnect`` and ``down``, in every form they are given):

``latency``       ``ms`` (required), ``jitter`` (0), ``direction`` (``both``|``upstream``|``downstream``),
                  ``duration_ms`` (``None``: until the test ends)
``bandwidth``     ``kbps`` (required, kilobits/s; Toxiproxy's unit is KB/s, so the rate is ``ceil(kbps/8)``),
                  ``direction``, ``duration_ms``
``slicer``        ``average_size`` (64 bytes), ``size_variation`` (0), ``delay_us`` (0), ``direction``,
                  ``duration_ms``
``disconnect``    at ``at_ms`` (alias ``after_ms``), or, with ``after_bytes``, once that many more bytes went
                  to the client after ``at_ms``; ``mode`` (``reset``|``close``|``timeout``), ``hold_ms`` (how
                  long the cutting toxic stays at most; it is removed as soon as the client reports the
                  cut, so reconnects get through)
``down``          proxy disabled (connections refused) for ``duration_ms`` (200)
``receiver_lag``  client side: the consumer pauses for ``pause_ms`` (500); ``queue_limit`` shrinks the
                  notification queues (of running processes too) so the pause overflows them

``at_ms`` counts from the start of the test body. A ``latency``/``bandwidth``/``slicer`` fault at
``at_ms=0`` is in place before the fixtures connect, so the connection's setup runs under it too.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, Protocol

DIRECTIONS = ("both", "upstream", "downstream")
DISCONNECT_MODES = ("reset", "close", "timeout")

# Toxiproxy stream names: upstream = client -> server, downstream = server -> client.
_STREAMS = {"both": ("upstream", "downstream"), "upstream": ("upstream",), "downstream": ("downstream",)}


class FaultError(ValueError):
    """A fault was described with an unknown kind or bad parameters; the message says which."""


_MISSING: Any = object()


@dataclass(frozen=True)
class Param:
    """One parameter of a fault kind: how it is checked, and its default (``_MISSING``: required)."""

    kind: str  # "ms" (non-negative number), "count" (non-negative int), "positive", "choice", and for the
    # protocol kinds "nth" (int >= 1), "text" (a string), "flag" (a bool), "any" (checked by the kind)
    default: Any = _MISSING
    choices: tuple[str, ...] = ()
    optional: bool = False  # None allowed

    @property
    def required(self) -> bool:
        return self.default is _MISSING

    def check(self, where: str, value: Any) -> Any:
        if value is None and self.optional:
            return None
        if self.kind == "ms":
            if not _is_number(value):
                raise FaultError(f"{where} must be a number of milliseconds, got {value!r}")
            if value < 0:
                raise FaultError(f"{where} must be >= 0 ms, got {value!r}")
        elif self.kind == "count":
            if not isinstance(value, int) or isinstance(value, bool):
                raise FaultError(f"{where} must be an integer, got {value!r}")
            if value < 0:
                raise FaultError(f"{where} must be >= 0, got {value!r}")
        elif self.kind == "positive":
            if not _is_number(value) or value <= 0:
                raise FaultError(f"{where} must be a positive number, got {value!r}")
        elif self.kind == "choice":
            if value not in self.choices:
                raise FaultError(f"{where} must be one of {', '.join(self.choices)}; got {value!r}")
        elif self.kind == "nth":
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise FaultError(f"{where} must be an integer >= 1, got {value!r}")
        elif self.kind == "text":
            if not isinstance(value, str):
                raise FaultError(f"{where} must be a string, got {value!r}")
        elif self.kind == "flag":
            if not isinstance(value, bool):
                raise FaultError(f"{where} must be True or False, got {value!r}")
        elif self.kind == "any":
            pass
        else:  # pragma: no cover
            raise AssertionError(self.kind)
        return value


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _ms(default: Any = _MISSING, optional: bool = False) -> Param:
    return Param("ms", default, optional=optional)


_DIRECTION = Param("choice", "both", DIRECTIONS)
_AT = _ms(0)
# Where a cut lands when the test does not say (at_ms left out, in the string and the Fault form alike):
# 150 ms into the test body, once its first process is underway; a cut during process/start (at_ms=0)
# happens only when a test asks for it.
CUT_AT_MS = 150
_CUT_AT = _ms(None, optional=True)  # None: not placed by the test (CUT_AT_MS on the test's clock)
_UNTIL = _ms(None, optional=True)  # duration_ms: None = until the test ends


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


class LaggableClient(Protocol):
    queue_limit: int  # setting it resizes the queues of the client's running processes too

    def pause_consumer(self, ms: float) -> None: ...


class FaultTarget(Protocol):
    """What a kind applies itself to: one Toxiproxy proxy and the test's clients (the injector)."""

    def add_toxic(self, spec: ToxicSpec) -> None: ...

    def remove_toxic(self, name: str) -> None: ...  # a toxic already gone is not an error

    def set_enabled(self, enabled: bool) -> None: ...

    def clients(self) -> Sequence[LaggableClient]: ...

    def arm_protocol(self, fault: Fault) -> None: ...  # a protocol kind: armed in the protocol proxy


Lifetime = Literal["timed", "until_cut", "one_shot"]


class FaultKind:
    """A fault kind. Subclass, set the class attributes, override what differs, and :func:`register` it."""

    name: ClassVar[str]
    params: ClassVar[dict[str, Param]]
    network: ClassVar[bool] = True  # realised in the proxy (else: in the client)
    # where it is realised: "toxiproxy" (TCP bytes, by the clock), "client" (receiver lag) or "protocol"
    # (the websocket/JSON-RPC proxy, placed by a message: see the protocol section below)
    layer: ClassVar[str] = "toxiproxy"
    cuts: ClassVar[bool] = False  # cuts connections (recovery time is measured from its apply)
    # "timed": removed after duration_ms (None: at the end of the test); "until_cut": removed once the cut
    # was observed (or after hold_ms); "one_shot": applied once, nothing to remove
    lifetime: ClassVar[Lifetime] = "timed"
    example: ClassVar[dict[str, Any]]  # what chaos("<kind>") runs under
    aliases: ClassVar[dict[str, str]] = {}  # other names accepted for a parameter

    def normalize(self, params: dict[str, Any]) -> dict[str, Any]:
        """Cross-parameter rules and derived defaults, after each parameter was checked."""
        return params

    def start_ms(self, params: Mapping[str, Any]) -> float:
        """When the fault starts on the test's clock; a cut the test did not place starts at ``CUT_AT_MS``."""
        at = params.get("at_ms", 0)
        return float(CUT_AT_MS if at is None else at)

    def duration_ms(self, params: Mapping[str, Any]) -> float | None:
        value = params.get("duration_ms")
        return None if value is None else float(value)

    def toxics(self, params: Mapping[str, Any], prefix: str) -> list[ToxicSpec]:
        return []

    def applies_before_clients(self, params: Mapping[str, Any]) -> bool:
        """A marker fault in place before the fixtures connect (traffic shaping from ``at_ms=0``); every
        other one starts on the test body's clock (a cut or lag needs connected clients to act on)."""
        return self.network and not self.cuts and self.start_ms(params) == 0

    def draw(self, rng: random.Random, at_ms: int, duration_ms: int) -> Fault:
        """Seeded parameters for a schedule slot (only :class:`random.Random` calls with stable output)."""
        raise NotImplementedError

    def place(self, fault: Fault, at_ms: int, duration_ms: int) -> Fault:
        """A given fault moved into a schedule slot (its own parameters kept)."""
        return fault.replace(at_ms=at_ms, duration_ms=duration_ms)

    def apply(self, fault: Fault, target: FaultTarget, prefix: str, added: list[str]) -> None:
        """Apply ``fault``; every toxic added goes into ``added`` at once (so a failure can be undone)."""
        for spec in self.toxics(fault.params, prefix):
            target.add_toxic(spec)
            added.append(spec.name)

    def remove(self, fault: Fault, target: FaultTarget, names: Sequence[str]) -> None:
        for name in names:
            target.remove_toxic(name)

    def on_new_client(self, fault: Fault, client: LaggableClient) -> None:
        """An applied fault meets a client made after it (only client-side kinds act)."""


KINDS: dict[str, FaultKind] = {}


def register(cls: type[FaultKind]) -> type[FaultKind]:
    """Class decorator: add a kind to :data:`KINDS` (its example is checked once :class:`Fault` exists)."""
    kind = cls()
    if cls.name in KINDS:
        raise ValueError(f"fault kind {cls.name!r} registered twice")
    if "at_ms" not in cls.params:
        raise ValueError(f"fault kind {cls.name!r}: every kind takes at_ms")
    KINDS[cls.name] = kind
    return cls


def kind_of(name: Any) -> FaultKind:
    if not isinstance(name, str) or name not in KINDS:
        raise FaultError(f"unknown fault kind {name!r}; known kinds: {', '.join(KINDS)}")
    return KINDS[name]


# ------------------------------------------------------------------------------------------- the kinds


@register
class Latency(FaultKind):
    name = "latency"
    params: ClassVar[dict[str, Param]] = {"ms": _ms(), "jitter": _ms(0), "direction": _DIRECTION,
                                          "at_ms": _AT, "duration_ms": _UNTIL}
    example: ClassVar[dict[str, Any]] = {"ms": 50, "jitter": 10}

    def toxics(self, params: Mapping[str, Any], prefix: str) -> list[ToxicSpec]:
        attrs = {"latency": int(params["ms"]), "jitter": int(params["jitter"])}
        return [ToxicSpec(f"{prefix}latency-{s}", "latency", s, dict(attrs)) for s in _STREAMS[params["direction"]]]

    def draw(self, rng: random.Random, at_ms: int, duration_ms: int) -> Fault:
        ms = rng.randint(5, 150)
        return Fault("latency", ms=ms, jitter=rng.randint(0, ms // 2), at_ms=at_ms, duration_ms=duration_ms)


@register
class Bandwidth(FaultKind):
    name = "bandwidth"
    params: ClassVar[dict[str, Param]] = {"kbps": Param("positive"), "direction": _DIRECTION, "at_ms": _AT,
                                          "duration_ms": _UNTIL}
    example: ClassVar[dict[str, Any]] = {"kbps": 256}

    def toxics(self, params: Mapping[str, Any], prefix: str) -> list[ToxicSpec]:
        rate = max(1, math.ceil(params["kbps"] / 8))
        return [ToxicSpec(f"{prefix}bandwidth-{s}", "bandwidth", s, {"rate": rate})
                for s in _STREAMS[params["direction"]]]

    def draw(self, rng: random.Random, at_ms: int, duration_ms: int) -> Fault:
        return Fault("bandwidth", kbps=rng.choice([64, 128, 256, 512, 1024]), at_ms=at_ms, duration_ms=duration_ms)


@register
class Slicer(FaultKind):
    name = "slicer"
    params: ClassVar[dict[str, Param]] = {"average_size": Param("count", 64), "size_variation": Param("count", 0),
                                          "delay_us": Param("count", 0), "direction": _DIRECTION, "at_ms": _AT,
                                          "duration_ms": _UNTIL}
    example: ClassVar[dict[str, Any]] = {"average_size": 16, "size_variation": 8, "delay_us": 100}

    def normalize(self, params: dict[str, Any]) -> dict[str, Any]:
        if params["average_size"] == 0:
            raise FaultError("fault 'slicer': parameter 'average_size' must be >= 1")
        return params

    def toxics(self, params: Mapping[str, Any], prefix: str) -> list[ToxicSpec]:
        attrs = {
            "average_size": params["average_size"],
            "size_variation": min(params["size_variation"], max(params["average_size"] - 1, 0)),
            "delay": params["delay_us"],
        }
        return [ToxicSpec(f"{prefix}slicer-{s}", "slicer", s, dict(attrs)) for s in _STREAMS[params["direction"]]]

    def draw(self, rng: random.Random, at_ms: int, duration_ms: int) -> Fault:
        size = rng.randint(1, 128)
        return Fault("slicer", average_size=size, size_variation=rng.randint(0, size - 1),
                     delay_us=rng.choice([0, 100, 1000]), at_ms=at_ms, duration_ms=duration_ms)


# How long a disconnect's cutting toxic stays (at most) when hold_ms is not given.
DEFAULT_HOLD_MS = {"reset": 150, "close": 150, "timeout": 1500}


@register
class Disconnect(FaultKind):
    """Cut the connections open at ``at_ms`` (or once ``after_bytes`` more went to the client) once."""

    name = "disconnect"
    params: ClassVar[dict[str, Param]] = {
        "at_ms": _CUT_AT,  # with after_bytes: 0 (the bytes are counted from the start)
        "after_bytes": Param("count", None, optional=True),
        "mode": Param("choice", "reset", DISCONNECT_MODES),
        "hold_ms": _ms(None, optional=True),
    }
    aliases: ClassVar[dict[str, str]] = {"after_ms": "at_ms"}
    cuts = True
    lifetime = "until_cut"
    example: ClassVar[dict[str, Any]] = {"mode": "reset"}

    def normalize(self, params: dict[str, Any]) -> dict[str, Any]:
        if params["hold_ms"] is None:
            params["hold_ms"] = DEFAULT_HOLD_MS[params["mode"]]
        if params["at_ms"] is None and params["after_bytes"] is not None:
            params["at_ms"] = 0
        return params

    def duration_ms(self, params: Mapping[str, Any]) -> float | None:
        return float(params["hold_ms"])

    def toxics(self, params: Mapping[str, Any], prefix: str) -> list[ToxicSpec]:
        name = f"{prefix}disconnect"
        if params["after_bytes"] is not None:
            # limit_data closes a connection once that many bytes went from server to client.
            return [ToxicSpec(f"{name}-downstream", "limit_data", "downstream", {"bytes": params["after_bytes"]})]
        if params["mode"] == "reset":
            return [ToxicSpec(f"{name}-downstream", "reset_peer", "downstream", {"timeout": 0})]
        if params["mode"] == "close":
            # timeout toxic with a (tiny) timeout: data is dropped and the connection closed (FIN).
            return [ToxicSpec(f"{name}-downstream", "timeout", "downstream", {"timeout": 1})]
        # "timeout": the connection stays open but silent until the toxic is removed.
        return [ToxicSpec(f"{name}-{s}", "timeout", s, {"timeout": 0}) for s in ("upstream", "downstream")]

    def draw(self, rng: random.Random, at_ms: int, duration_ms: int) -> Fault:
        mode = rng.choice(["reset", "reset", "close"])
        return Fault("disconnect", at_ms=at_ms, mode=mode, hold_ms=min(duration_ms, 150))

    def place(self, fault: Fault, at_ms: int, duration_ms: int) -> Fault:
        return fault.replace(at_ms=at_ms)


@register
class Down(FaultKind):
    """The proxy disabled: open connections dropped, new ones refused, for ``duration_ms``."""

    name = "down"
    params: ClassVar[dict[str, Param]] = {"at_ms": _CUT_AT, "duration_ms": _ms(200)}
    cuts = True
    example: ClassVar[dict[str, Any]] = {"duration_ms": 200}

    def apply(self, fault: Fault, target: FaultTarget, prefix: str, added: list[str]) -> None:
        target.set_enabled(False)

    def remove(self, fault: Fault, target: FaultTarget, names: Sequence[str]) -> None:
        target.set_enabled(True)

    def draw(self, rng: random.Random, at_ms: int, duration_ms: int) -> Fault:
        return Fault("down", at_ms=at_ms, duration_ms=duration_ms)

    def place(self, fault: Fault, at_ms: int, duration_ms: int) -> Fault:
        return fault.replace(at_ms=at_ms, duration_ms=min(fault.params["duration_ms"], duration_ms))


@register
class ReceiverLag(FaultKind):
    """The client's consumer stalls for ``pause_ms`` (every client, also those made later)."""

    name = "receiver_lag"
    params: ClassVar[dict[str, Param]] = {"pause_ms": _ms(500), "queue_limit": Param("positive", None, optional=True),
                                          "at_ms": _AT}
    network = False
    layer = "client"
    lifetime = "one_shot"
    example: ClassVar[dict[str, Any]] = {"pause_ms": 300}

    def normalize(self, params: dict[str, Any]) -> dict[str, Any]:
        if params["queue_limit"] is not None and not isinstance(params["queue_limit"], int):
            raise FaultError(f"fault 'receiver_lag': parameter 'queue_limit' must be an integer, got "
                             f"{params['queue_limit']!r}")
        return params

    def duration_ms(self, params: Mapping[str, Any]) -> float | None:
        return float(params["pause_ms"])

    def apply(self, fault: Fault, target: FaultTarget, prefix: str, added: list[str]) -> None:
        for client in target.clients():
            self.on_new_client(fault, client)

    def on_new_client(self, fault: Fault, client: LaggableClient) -> None:
        if fault.params["queue_limit"] is not None:
            client.queue_limit = int(fault.params["queue_limit"])  # running processes too
        client.pause_consumer(float(fault.params["pause_ms"]))

    def draw(self, rng: random.Random, at_ms: int, duration_ms: int) -> Fault:
        return Fault("receiver_lag", pause_ms=duration_ms, at_ms=at_ms)

    def place(self, fault: Fault, at_ms: int, duration_ms: int) -> Fault:
        return fault.replace(at_ms=at_ms)



# ------------------------------------------------------------------------------------ protocol kinds
# Realised by the websocket/JSON-RPC fault proxy (:mod:`pytest_execserver.faults.protocol`), which sits
# between Toxiproxy and the server (docs/protocol-faults.md). Each is placed by a message, not the clock:
# ``on="METHOD[:request|response|notification]"``, ``nth`` (1: the first match), ``process`` (a
# processId). ``at_ms`` (None: armed before the clients connect) is when the trigger is armed; ``nth``
# counts matches from then on. A fault fires once; its firing is the ``fault`` apply event in the history.

_TRIGGER: dict[str, Param] = {
    "on": Param("text"),
    "nth": Param("nth", 1),
    "process": Param("text", None, optional=True),
    "at_ms": _ms(None, optional=True),
}
# Where a seeded schedule aims a protocol fault it draws (every one occurs in a run's normal traffic).
DRAW_TRIGGERS = ("process/output", "process/start:response", "process/read:response", "process/exited")


class ProtocolKind(FaultKind):
    """A protocol-proxy kind: its own parameters plus the trigger, validated by the proxy's own kind."""

    layer = "protocol"
    lifetime = "one_shot"  # armed once; the proxy fires it once and ends a timed one itself
    own: ClassVar[dict[str, Param]] = {}

    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        cls.params = {**cls.own, **_TRIGGER}

    def normalize(self, params: dict[str, Any]) -> dict[str, Any]:
        if isinstance(params.get("frame"), dict | list):  # hashable, and sent as it is written
            params["frame"] = json.dumps(params["frame"], separators=(",", ":"))
        try:
            self.protocol_fault(params)
        except ValueError as exc:
            raise FaultError(f"fault {self.name!r}: {exc}") from None
        return params

    def protocol_fault(self, params: Mapping[str, Any]) -> Any:
        """The proxy's fault object for these parameters (:func:`~.protocol.make_fault`)."""
        from pytest_execserver.faults.protocol import make_fault

        return make_fault(self.name, **{k: v for k, v in params.items() if k != "at_ms"})

    def start_ms(self, params: Mapping[str, Any]) -> float:
        at = params.get("at_ms")
        return 0.0 if at is None else float(at)

    def duration_ms(self, params: Mapping[str, Any]) -> float | None:
        return None

    def applies_before_clients(self, params: Mapping[str, Any]) -> bool:
        return params.get("at_ms") is None  # armed before the fixtures connect: nth counts every message

    def apply(self, fault: Fault, target: FaultTarget, prefix: str, added: list[str]) -> None:
        target.arm_protocol(fault)

    def remove(self, fault: Fault, target: FaultTarget, names: Sequence[str]) -> None:
        pass  # nothing to take back: the proxy is per test

    def draw_params(self, rng: random.Random, duration_ms: int) -> dict[str, Any]:
        return dict(self.example)

    def draw(self, rng: random.Random, at_ms: int, duration_ms: int) -> Fault:
        params = {**self.draw_params(rng, duration_ms), "on": rng.choice(DRAW_TRIGGERS), "nth": rng.randint(1, 3)}
        return Fault(self.name, **params, at_ms=at_ms)

    def place(self, fault: Fault, at_ms: int, duration_ms: int) -> Fault:
        return fault.replace(at_ms=at_ms)


@register
class ProtoDrop(ProtocolKind):
    """Withhold the matched message."""

    name = "drop"
    example: ClassVar[dict[str, Any]] = {"on": "process/output", "nth": 2}


@register
class ProtoDelay(ProtocolKind):
    """Send the matched message ``ms`` late (later ones in its direction queue behind it)."""

    name = "delay"
    own: ClassVar[dict[str, Param]] = {"ms": _ms()}
    example: ClassVar[dict[str, Any]] = {"on": "process/output", "nth": 2, "ms": 300}

    def draw_params(self, rng: random.Random, duration_ms: int) -> dict[str, Any]:
        return {"ms": rng.randint(10, max(10, duration_ms))}


@register
class ProtoDuplicate(ProtocolKind):
    """Send the matched message twice."""

    name = "duplicate"
    example: ClassVar[dict[str, Any]] = {"on": "process/output", "nth": 2}


@register
class ProtoReorder(ProtocolKind):
    """Hold the matched message until ``hold`` later ones in its direction have passed."""

    name = "reorder"
    own: ClassVar[dict[str, Param]] = {"hold": Param("nth", 1)}
    example: ClassVar[dict[str, Any]] = {"on": "process/output", "nth": 2, "hold": 2}

    def draw_params(self, rng: random.Random, duration_ms: int) -> dict[str, Any]:
        return {"hold": rng.randint(1, 3)}


@register
class ProtoCorrupt(ProtocolKind):
    """Replace the matched message: ``how`` = ``truncate``, ``not_json`` or ``wrong_type``."""

    name = "corrupt"
    own: ClassVar[dict[str, Param]] = {"how": Param("choice", "not_json", ("truncate", "not_json", "wrong_type"))}
    example: ClassVar[dict[str, Any]] = {"on": "process/output", "nth": 2, "how": "not_json"}

    def draw_params(self, rng: random.Random, duration_ms: int) -> dict[str, Any]:
        return {"how": rng.choice(["truncate", "not_json", "wrong_type"])}


@register
class ProtoInject(ProtocolKind):
    """Send a crafted ``frame`` (a JSON value, or text) after the matched message, ``count`` times; the
    string ``"{process}"`` in it names the matched message's process."""

    name = "inject"
    own: ClassVar[dict[str, Param]] = {"frame": Param("any"), "count": Param("nth", 1)}
    example: ClassVar[dict[str, Any]] = {
        "on": "process/output", "nth": 1,
        "frame": {"jsonrpc": "2.0", "method": "process/output",
                  "params": {"processId": "no-such-process", "seq": 1, "stream": "stdout", "chunk": ""}},
    }


@register
class ProtoClose(ProtocolKind):
    """Close the connection with ``code``/``reason`` after the matched message (to the client by default)."""

    name = "close"
    own: ClassVar[dict[str, Param]] = {"code": Param("count", 1000), "reason": Param("text", ""),
                                       "handshake": Param("flag", True),
                                       "to": Param("choice", "client", ("client", "server"))}
    cuts = True
    example: ClassVar[dict[str, Any]] = {"on": "process/output", "nth": 3, "code": 1012}

    def draw_params(self, rng: random.Random, duration_ms: int) -> dict[str, Any]:
        return {"code": rng.choice([1001, 1011, 1012])}


@register
class ProtoCut(ProtocolKind):
    """A TCP reset of the connection right after the matched message."""

    name = "cut"
    cuts = True
    example: ClassVar[dict[str, Any]] = {"on": "process/output", "nth": 3}


@register
class ProtoBlackhole(ProtocolKind):
    """The connection goes silent both ways (no FIN, no RST) for ``duration_ms`` (None: until the test
    ends); new connections pass (a half-open peer)."""

    name = "blackhole"
    own: ClassVar[dict[str, Param]] = {"duration_ms": _ms(None, optional=True)}
    cuts = True
    example: ClassVar[dict[str, Any]] = {"on": "process/output", "nth": 2}

    def draw_params(self, rng: random.Random, duration_ms: int) -> dict[str, Any]:
        return {"duration_ms": duration_ms}


@register
class ProtoMutePongs(ProtocolKind):
    """From the matched message on, pongs are dropped both ways (data still flows)."""

    name = "mute_pongs"
    example: ClassVar[dict[str, Any]] = {"on": "process/start:response"}


@register
class ServerRestart(ProtocolKind):
    """SIGKILL the server under test and start it again on the same address: every session is lost."""

    name = "server_restart"
    cuts = True
    example: ClassVar[dict[str, Any]] = {"on": "process/start:response"}


@register
class ServerPause(ProtocolKind):
    """SIGSTOP the server's process group for ``ms``, then SIGCONT it."""

    name = "server_pause"
    own: ClassVar[dict[str, Param]] = {"ms": _ms(1000)}
    example: ClassVar[dict[str, Any]] = {"on": "process/output", "nth": 2, "ms": 500}

    def draw_params(self, rng: random.Random, duration_ms: int) -> dict[str, Any]:
        return {"ms": duration_ms}


@register
class ClientPause(ProtocolKind):
    """SIGSTOP the client under test (an ``exec_subject`` adapter's process group) for ``ms``, then SIGCONT;
    our in-process client pauses its consumer instead."""

    name = "client_pause"
    own: ClassVar[dict[str, Param]] = {"ms": _ms(1000)}
    example: ClassVar[dict[str, Any]] = {"on": "process/output", "nth": 2, "ms": 500}

    def draw_params(self, rng: random.Random, duration_ms: int) -> dict[str, Any]:
        return {"ms": duration_ms}


PROTOCOL_KINDS: tuple[str, ...] = tuple(k for k, v in KINDS.items() if v.layer == "protocol")

FAULT_KINDS: tuple[str, ...] = tuple(KINDS)
NETWORK_KINDS = tuple(k for k, v in KINDS.items() if v.network and v.layer == "toxiproxy")
CLIENT_KINDS = tuple(k for k, v in KINDS.items() if not v.network)
CUTTING_KINDS = tuple(k for k, v in KINDS.items() if v.cuts)


# ------------------------------------------------------------------------------------------- Fault


def validate(kind: Any, params: Mapping[str, Any]) -> tuple[dict[str, Any], frozenset[str]]:
    """Check ``kind`` and ``params``: (the full parameter dict with defaults filled in, the names given)."""
    spec = kind_of(kind)
    aliases = spec.aliases
    given: dict[str, Any] = {}
    for name, value in params.items():
        canonical = aliases.get(name, name)
        if canonical in given:
            alias = name if name != canonical else next(a for a, c in aliases.items() if c == canonical)
            raise FaultError(f"fault {kind!r}: {alias!r} and {canonical!r} are the same parameter; give one")
        given[canonical] = value
    unknown = sorted(set(given) - set(spec.params))
    if unknown:
        accepted = [*spec.params, *aliases]
        raise FaultError(f"fault {kind!r}: unknown parameter(s) {', '.join(unknown)}; accepted: {', '.join(accepted)}")
    out: dict[str, Any] = {}
    for name, pspec in spec.params.items():
        if name in given:
            out[name] = pspec.check(f"fault {kind!r}: parameter {name!r}", given[name])
        elif pspec.required:
            raise FaultError(f"fault {kind!r}: missing required parameter {name!r}")
        else:
            out[name] = pspec.default
    return spec.normalize(out), frozenset(given)


class Fault:
    """A validated fault: ``Fault("latency", ms=100, jitter=20)``.

    Equality and hashing are by ``(kind, params)``; ``params`` holds every parameter with defaults filled.
    ``given`` names the parameters passed explicitly (a fault given ``at_ms`` keeps its time in a schedule).
    """

    __slots__ = ("_items", "given", "kind", "params")
    kind: str
    params: dict[str, Any]
    given: frozenset[str]
    _items: tuple[tuple[str, Any], ...]

    def __init__(self, kind: str, /, **params: Any) -> None:
        full, given = validate(kind, params)
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "params", full)
        object.__setattr__(self, "given", given)
        object.__setattr__(self, "_items", tuple(sorted(full.items())))

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Fault is immutable")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Fault) and (self.kind, self._items) == (other.kind, other._items)

    def __hash__(self) -> int:
        return hash((self.kind, self._items))

    def __repr__(self) -> str:
        """Pasteable: ``Fault('latency', at_ms=120, ms=40, ...)`` builds an equal fault."""
        shown = ", ".join(f"{k}={v!r}" for k, v in self._items if v is not None)
        return f"Fault({self.kind!r}{', ' if shown else ''}{shown})"

    def __getitem__(self, name: str) -> Any:
        return self.params[name]

    @property
    def spec(self) -> FaultKind:
        """The kind's class instance in :data:`KINDS`."""
        return KINDS[self.kind]

    def replace(self, **params: Any) -> Fault:
        """A copy with some parameters changed (validated again)."""
        aliases = self.spec.aliases
        changed = {aliases.get(k, k): v for k, v in params.items()}
        base = {k: v for k, v in self.params.items() if k in self.given or k in changed}
        base.update(changed)
        return Fault(self.kind, **{k: v for k, v in base.items() if v is not None or k in changed})

    @property
    def is_network(self) -> bool:
        return self.spec.network

    @property
    def at_ms(self) -> float:
        """When the fault starts, relative to the start of the test."""
        return self.spec.start_ms(self.params)

    @property
    def timed(self) -> bool:
        """Whether its start time was given (a schedule keeps it rather than drawing a slot)."""
        return "at_ms" in self.given

    @property
    def duration_ms(self) -> float | None:
        """How long the fault lasts (``None``: until the test ends)."""
        return self.spec.duration_ms(self.params)

    def describe(self) -> dict[str, Any]:
        """JSON-friendly ``{"kind": ..., **params}`` (for history ``fault`` events and reports)."""
        return {"kind": self.kind, **{k: v for k, v in self._items if v is not None}}

    def toxics(self, prefix: str = "") -> list[ToxicSpec]:
        """The toxics that realise this fault (empty for ``down`` and ``receiver_lag``)."""
        return self.spec.toxics(self.params, prefix)

    def label(self) -> str:
        """A short test id: the kind, then the parameters given (``disconnect-mode=close``)."""
        parts = [f"{k}={self.params[k]}" for k in sorted(self.given)]
        return "-".join([self.kind, *parts])


def example(kind: str) -> Fault:
    """The fault ``chaos("<kind>")`` runs under: the kind's example parameters."""
    return Fault(kind, **kind_of(kind).example)


for _kind in KINDS.values():  # every example is a valid fault
    example(_kind.name)


def coerce_fault(value: Any, where: str = "") -> Fault:
    """A :class:`Fault` from a Fault, a kind name (its defaults), or a ``{"kind": ...}`` mapping."""
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
    """Validate a schedule entry: a known kind name (params drawn from the seed) or a Fault."""
    if isinstance(value, Fault):
        return value
    if isinstance(value, str):
        kind_of(value)
        return value
    raise FaultError(f"expected a fault kind name or a Fault object, got {value!r}")
