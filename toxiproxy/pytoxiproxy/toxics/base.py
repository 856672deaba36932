"""The pieces every toxic shares: chunks, the toxic definition, and the per-connection stage that runs it."""

from __future__ import annotations

import asyncio
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

UPSTREAM = "upstream"
DOWNSTREAM = "downstream"
# Go encodes durations as int64 nanoseconds: a millisecond value above this overflows (Go then waits for a
# wrapped, arbitrary duration); we clamp to it instead, which is "for ever" in practice.
MAX_MS = (2**63 - 1) // 1_000_000


def clamp_ms(value: int) -> int:
    """A millisecond attribute as a duration Go could represent: negative -> 0, too large -> MAX_MS."""
    return min(max(value, 0), MAX_MS)


@dataclass
class Chunk:
    """Bytes read from one side, stamped with the loop time they arrived (Go's StreamChunk)."""

    data: bytes
    ts: float


Item = Chunk | None  # None marks the end of the stream


class Toxic:
    """A toxic type: its integer attributes, their checks, and how it pipes data."""

    type_name: ClassVar[str] = ""
    go_struct: ClassVar[str] = ""
    attribute_names: ClassVar[tuple[str, ...]] = ()
    go_type: ClassVar[str] = "int64"

    def __init__(self, values: dict[str, int] | None = None) -> None:
        self.values = {name: 0 for name in self.attribute_names}
        self.values.update(values or {})

    def attributes(self) -> dict[str, int]:
        return dict(self.values)

    def new_state(self) -> Any:
        """Per-connection state kept across updates (limit_data counts bytes here)."""
        return None

    async def pipe(self, stage: Stage) -> None:
        await noop_pipe(stage)

    def cleanup(self, stage: Stage) -> bool:
        """Called when the toxic is removed from a live connection; True if it closed the stream."""
        return False


async def noop_pipe(stage: Stage) -> None:
    """Pass everything through unchanged."""
    while True:
        item = await stage.take()
        if item is None:
            stage.close()
            return
        stage.forward(item)


@dataclass(eq=False)
class ToxicWrapper:
    """A named toxic as the API shows it (Go's ToxicWrapper)."""

    name: str
    type: str
    stream: str
    toxicity: float
    toxic: Toxic
    direction: str = DOWNSTREAM

    def to_json(self, float32_json: Callable[[float], float | int]) -> dict[str, Any]:
        return {
            "attributes": self.toxic.attributes(),
            "name": self.name,
            "type": self.type,
            "stream": self.stream,
            "toxicity": float32_json(self.toxicity),
        }


class StageOwner(Protocol):
    """What a stage needs from its link."""

    def discard(self, nbytes: int) -> None: ...

    def stage_failed(self, stage: Stage, exc: BaseException) -> None: ...


@dataclass(eq=False)
class Stage:
    """One toxic running on one direction of one connection (Go's ToxicStub)."""

    wrapper: ToxicWrapper
    owner: StageOwner
    rng: random.Random
    out: Callable[[Item], None]
    state: Any = None
    inbox: deque[Item] = field(default_factory=deque)
    held: Chunk | None = None
    held_eof: bool = False
    closed: bool = False
    active: bool = True
    task: asyncio.Task[None] | None = None
    _ready: asyncio.Event = field(default_factory=asyncio.Event)

    def start(self) -> None:
        """Draw toxicity for this connection and run the toxic (or a pass-through) as a task."""
        self.active = self.rng.random() < self.wrapper.toxicity
        toxic = self.wrapper.toxic
        pipe = toxic.pipe if self.active else noop_pipe
        self.task = asyncio.get_running_loop().create_task(self._run(pipe))

    async def _run(self, pipe: Callable[[Stage], Any]) -> None:
        try:
            await pipe(self)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.owner.stage_failed(self, exc)

    def stop(self) -> None:
        """Cancel the running toxic; data it holds stays in ``held``/``inbox``."""
        if self.task is not None:
            self.task.cancel()
            self.task = None

    def restart(self) -> None:
        """Re-run after an update: held data goes back to the front and is reprocessed."""
        if self.closed:
            return
        self.stop()
        self._requeue_held()
        self.start()

    def _requeue_held(self) -> None:
        if self.held_eof:
            self.inbox.appendleft(None)
            self.held_eof = False
        if self.held is not None:
            self.inbox.appendleft(self.held)
            self.held = None
        if self.inbox:
            self._ready.set()

    def drain(self) -> list[Item]:
        """Stop and hand back, in order, everything not yet passed on (used when removing)."""
        self.stop()
        self._requeue_held()
        items = list(self.inbox)
        self.inbox.clear()
        return items

    def put(self, item: Item) -> None:
        if self.closed:
            if item is not None:
                self.owner.discard(len(item.data))
            return
        self.inbox.append(item)
        self._ready.set()

    async def take(self) -> Item:
        """Wait for the next chunk (None at end of stream); it is held until forwarded or dropped."""
        while not self.inbox:
            self._ready.clear()
            await self._ready.wait()
        item = self.inbox.popleft()
        if item is None:
            self.held_eof = True
        else:
            self.held = item
        return item

    def forward(self, chunk: Chunk) -> None:
        """Pass a chunk on; if it is the held chunk the stage no longer holds it."""
        if self.held is chunk:
            self.held = None
        self.out(chunk)

    def drop(self, nbytes: int) -> None:
        """Throw away bytes (timeout, limit_data)."""
        self.owner.discard(nbytes)

    def close(self) -> None:
        """End the stream here (Go's stub.Close): everything after is discarded."""
        if self.closed:
            return
        self.closed = True
        self.held_eof = False
        if self.held is not None:
            self.owner.discard(len(self.held.data))
            self.held = None
        for item in self.inbox:
            if item is not None:
                self.owner.discard(len(item.data))
        self.inbox.clear()
        self.out(None)
