"""The relay's JSONL event log: one object a line, ``t`` = ``time.monotonic()`` (the host's monotonic clock,
so a test in another process on the same machine can time phases against its own clock)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import IO, Any


class Journal:
    """Appends events to ``path`` (flushed per line); a journal without a path only counts."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._file: IO[str] | None = open(path, "a", encoding="utf-8") if path is not None else None  # noqa: SIM115
        self.count = 0

    def write(self, event: str, **fields: Any) -> None:
        self.count += 1
        if self._file is None:
            return
        record = {"t": time.monotonic(), "event": event, **fields}
        self._file.write(json.dumps(record, separators=(",", ":"), default=str) + "\n")
        self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
