"""Say what a long first-time step is doing: a start line, a "still working" line every few seconds, a done line."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO


@contextmanager
def step(what: str, *, every_s: float = 15.0, out: TextIO | None = None) -> Iterator[None]:
    """Print ``what...``, then ``... still working (N s)`` every ``every_s`` until the block ends."""
    stream = out or sys.stderr
    print(f"{what}...", file=stream, flush=True)
    started = time.monotonic()
    done = threading.Event()

    def tick() -> None:
        while not done.wait(every_s):
            print(f"  ... still working ({time.monotonic() - started:.0f} s)", file=stream, flush=True)

    ticker = threading.Thread(target=tick, name="progress", daemon=True)
    ticker.start()
    try:
        yield
    finally:
        done.set()
        ticker.join()


def size_of(path: Path) -> int:
    """Bytes in a file or a folder (recursively)."""
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def human(size: int) -> str:
    """``123.4 MB``."""
    value = float(size)
    for unit in ("B", "kB", "MB"):
        if value < 1000:
            return f"{value:.1f} {unit}" if unit != "B" else f"{size} B"
        value /= 1000
    return f"{value:.1f} GB"


def elapsed(started: float) -> str:
    return f"{time.monotonic() - started:.1f} s"


__all__ = ["elapsed", "human", "size_of", "step"]
