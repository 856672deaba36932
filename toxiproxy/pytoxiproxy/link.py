"""One direction of one proxied connection: source socket -> chain of toxic stages -> destination socket."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Callable
from typing import Protocol

from pytoxiproxy.stage import Stage
from pytoxiproxy.toxics.base import Chunk, Item, ToxicWrapper

HIGH_WATER = 4 * 1024 * 1024
LOW_WATER = 1024 * 1024


class LinkOwner(Protocol):
    """What a link needs from its connection (kept abstract: the connection builds links, not the reverse)."""

    def link_finished(self, link: Link) -> None: ...

    def log_error(self, message: str) -> None: ...

    def abort(self) -> None: ...


class Link:
    """A one-way pipeline (Go's ToxicLink); toxics can be added, updated and removed while it runs."""

    def __init__(
        self,
        conn: LinkOwner,
        direction: str,
        source: asyncio.Transport,
        dest: asyncio.Transport,
        rng: random.Random,
    ) -> None:
        self.conn = conn
        self.direction = direction
        self.source = source
        self.dest = dest
        self.rng = rng
        self.stages: list[Stage] = []
        self.pending = 0
        self.eof_fed = False
        self.finished = False
        self.dest_paused = False
        self._reading_paused = False

    # -- building the chain -------------------------------------------------------------------
    def _stage_out(self, index: int) -> Callable[[Item], None]:
        return self.stages[index + 1].put if index + 1 < len(self.stages) else self.deliver

    def _rewire(self) -> None:
        for index, stage in enumerate(self.stages):
            stage.out = self._stage_out(index)

    def add_toxic(self, wrapper: ToxicWrapper) -> None:
        """Append a stage at the end of the chain; earlier chunks are unaffected."""
        if self.finished:
            return
        stage = Stage(wrapper, self, self.rng, self.deliver, state=wrapper.toxic.new_state())
        self.stages.append(stage)
        self._rewire()
        stage.start()

    def update_toxic(self, wrapper: ToxicWrapper) -> None:
        for stage in self.stages:
            if stage.wrapper is wrapper:
                stage.restart()

    def remove_toxic(self, wrapper: ToxicWrapper) -> None:
        """Take a stage out; what it held is passed on in order before the chain is rejoined."""
        for index, stage in enumerate(self.stages):
            if stage.wrapper is not wrapper:
                continue
            out = stage.out
            closed_by_cleanup = not stage.closed and wrapper.toxic.closes_on_removal
            if closed_by_cleanup:
                stage.stop()
                stage.close()
            leftovers = [] if stage.closed else stage.drain()
            stage.stop()
            del self.stages[index]
            self._rewire()
            if closed_by_cleanup:
                return
            for item in leftovers:
                out(item)
            return

    # -- data path ------------------------------------------------------------------------------
    def feed(self, data: bytes) -> None:
        """Bytes read from the source."""
        if self.finished:
            return
        if not self.stages:
            self.dest.write(data)
            return
        self.pending += len(data)
        self.stages[0].put(Chunk(data, asyncio.get_running_loop().time()))
        if self.pending > HIGH_WATER:
            self._update_reading()

    def feed_eof(self) -> None:
        """The source ended (EOF, error, or closed by us)."""
        if self.eof_fed:
            return
        self.eof_fed = True
        if self.stages:
            self.stages[0].put(None)
        else:
            self.deliver(None)

    def deliver(self, item: Item) -> None:
        """The end of the chain: write to the destination, or close it at end of stream."""
        if item is None:
            self._finish()
            return
        if self.stages:
            self.pending -= len(item.data)
        if not self.finished:
            self.dest.write(item.data)
        if self._reading_paused:
            self._update_reading()

    def discard(self, nbytes: int) -> None:
        self.pending -= nbytes
        if self._reading_paused:
            self._update_reading()

    def _finish(self) -> None:
        if self.finished:
            return
        self.finished = True
        for stage in self.stages:
            stage.stop()
        # Go closes the whole destination socket (no half-close), so the other direction ends too.
        with contextlib.suppress(Exception):
            self.dest.close()
        self.conn.link_finished(self)

    # -- flow control -----------------------------------------------------------------------------
    def set_dest_paused(self, paused: bool) -> None:
        self.dest_paused = paused
        self._update_reading()

    def _update_reading(self) -> None:
        if self.dest_paused or self.pending > HIGH_WATER:
            want_pause = True
        elif self.pending < LOW_WATER:
            want_pause = False
        else:
            want_pause = self._reading_paused
        if want_pause == self._reading_paused:
            return
        self._reading_paused = want_pause
        with contextlib.suppress(Exception):
            if want_pause:
                self.source.pause_reading()
            elif not self.source.is_closing():
                self.source.resume_reading()

    # -- StageOwner -------------------------------------------------------------------------------
    def stage_failed(self, stage: Stage, exc: BaseException) -> None:
        self.conn.log_error(f"toxic {stage.wrapper.name} failed: {exc!r}")
        self.conn.abort()

    def abort(self) -> None:
        """Stop every stage without delivering anything more."""
        self.finished = True
        for stage in self.stages:
            stage.stop()
