"""zerolog-style JSON log lines on stdout, like the Go server."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from typing import TextIO


class Logger:
    """One JSON object per line: level, fields, time, message."""

    def __init__(self, stream: TextIO | None = None, level: str = "info") -> None:
        self.stream = stream if stream is not None else sys.stdout
        self.debug_enabled = level in ("debug", "trace")

    def _emit(self, level: str, message: str, fields: dict[str, object]) -> None:
        record: dict[str, object] = {"level": level, **fields}
        record["time"] = datetime.now(UTC).astimezone().isoformat(timespec="seconds")
        record["message"] = message
        try:
            self.stream.write(json.dumps(record, separators=(",", ":")) + "\n")
            self.stream.flush()
        except (OSError, ValueError):
            pass

    def debug(self, message: str, **fields: object) -> None:
        if self.debug_enabled:
            self._emit("debug", message, fields)

    def info(self, message: str, **fields: object) -> None:
        self._emit("info", message, fields)

    def warn(self, message: str, **fields: object) -> None:
        self._emit("warn", message, fields)

    def error(self, message: str, **fields: object) -> None:
        self._emit("error", message, fields)
