"""One toxic running on one direction of one connection (Go's ToxicStub): a thin asyncio loop.

The stage takes chunks from its inbox, asks the toxic's plan what to do (``toxics.base``), and carries
the actions out: sleep until a send time, pass data on, drop it, close the stream. Whatever it has not
passed on yet is ``held``, so an update re-plans it and a removal passes it on, in order.
"""

from __future__ import annotations

import asyncio
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from pytoxiproxy.toxics.base import Action, Chunk, Close, Drop, Hold, Item, Send, Toxic, ToxicWrapper

_PASS_THROUGH = Toxic()  # the plan of a toxic this connection did not draw (toxicity)


class StageOwner(Protocol):
    """What a stage needs from its link."""

    def discard(self, nbytes: int) -> None: ...

    def stage_failed(self, stage: Stage, exc: BaseException) -> None: ...


@dataclass(eq=False)
class Stage:
    """The running toxic: an inbox, what it holds, and the task that carries out its plan."""

    wrapper: ToxicWrapper
    owner: StageOwner
    rng: random.Random
    out: Callable[[Item], None]
    state: Any = None
    inbox: deque[Item] = field(default_factory=deque)
    taken: Chunk | None = None  # the chunk taken from the inbox, until its plan starts
    held_eof: bool = False
    closed: bool = False
    active: bool = True
    task: asyncio.Task[None] | None = None
    _ready: asyncio.Event = field(default_factory=asyncio.Event)
    # The plan being carried out, the index of its first action not done yet, and the input's receive
    # time: what is held is computed from them only when needed (update, removal, close), so carrying
    # out a plan of thousands of slices stays linear.
    _plan: list[Action] | None = None
    _next: int = 0
    _ts: float = 0.0

    @property
    def held(self) -> Chunk | None:
        """The data taken from the inbox and not yet passed on or dropped."""
        if self._plan is None:
            return self.taken
        data = b"".join(a.data for a in self._plan[self._next :] if isinstance(a, Send))
        return Chunk(data, self._ts) if data else None

    def _forget_held(self) -> None:
        self.taken = None
        self._plan = None

    def start(self) -> None:
        """Draw toxicity for this connection and run the toxic's plan (or a pass-through) as a task."""
        self.active = self.rng.random() < self.wrapper.toxicity
        toxic = self.wrapper.toxic if self.active else _PASS_THROUGH
        self.task = asyncio.get_running_loop().create_task(self._run(toxic))

    async def _run(self, toxic: Toxic) -> None:
        try:
            await self._loop(toxic)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.owner.stage_failed(self, exc)

    async def _loop(self, toxic: Toxic) -> None:
        loop = asyncio.get_running_loop()
        idle = toxic.idle_timeout()
        while not self.closed:
            try:
                item = await (self.take() if idle is None else asyncio.wait_for(self.take(), idle))
            except TimeoutError:
                self.close()
                return
            await self._carry_out(item, toxic.plan(item, loop.time(), self.rng, self.state))

    async def _carry_out(self, item: Item, actions: list[Action]) -> None:
        loop = asyncio.get_running_loop()
        self._plan, self._next, self._ts = actions, 0, item.ts if item is not None else loop.time()
        for index, action in enumerate(actions):
            self._next = index
            if isinstance(action, Drop):
                self.owner.discard(action.nbytes)
                continue
            if isinstance(action, Hold):
                await asyncio.Event().wait()  # until cancelled by an update or a removal
                continue
            wait = action.at - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            if isinstance(action, Close):
                self.close()
                return
            if isinstance(action, Send):
                self._next = index + 1
                self.out(Chunk(action.data, action.ts))
        self._forget_held()

    def stop(self) -> None:
        """Cancel the running toxic; data it holds stays in ``held``/``inbox``."""
        if self.task is not None:
            self.task.cancel()
            self.task = None

    def restart(self) -> None:
        """Re-run after an update: held data goes back to the front and is re-planned."""
        if self.closed:
            return
        self.stop()
        self._requeue_held()
        if not self.wrapper.toxic.state_survives_update:
            self.state = self.wrapper.toxic.new_state()
        self.start()

    def _requeue_held(self) -> None:
        if self.held_eof:
            self.inbox.appendleft(None)
            self.held_eof = False
        held = self.held
        self._forget_held()
        if held is not None:
            self.inbox.appendleft(held)
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
        """Wait for the next chunk (None at end of stream); it is held until passed on or dropped."""
        while not self.inbox:
            self._ready.clear()
            await self._ready.wait()
        item = self.inbox.popleft()
        self._plan = None
        if item is None:
            self.held_eof = True
        else:
            self.taken = item
        return item

    def close(self) -> None:
        """End the stream here (Go's stub.Close): everything after is discarded."""
        if self.closed:
            return
        self.closed = True
        self.held_eof = False
        held = self.held
        self._forget_held()
        if held is not None:
            self.owner.discard(len(held.data))
        for item in self.inbox:
            if item is not None:
                self.owner.discard(len(item.data))
        self.inbox.clear()
        self.out(None)

