"""The journal (``--journal PATH``): one JSON object per line, flushed per line; format in docs/journal.md.

The journal is the ground truth a harness checks any client against: every frame each connection received
and sent, and every byte each process emitted (recorded before any injected bug alters delivery).
Records are written with ``ensure_ascii`` so a lone surrogate in a received frame can never break a line.
"""

from __future__ import annotations

import base64
import json
import time
from typing import IO, Any

from execserver_ref.envelope import ClientReply, Message, Notification, Request


class Journal:
    """Appends records to a line-buffered file (one ``write`` per record: a crash leaves whole lines)."""

    def __init__(self, path: str) -> None:
        self._file: IO[str] | None = open(path, "a", buffering=1, encoding="ascii")  # noqa: SIM115
        self._conns = 0

    def next_conn(self) -> int:
        self._conns += 1
        return self._conns

    def record(self, kind: str, **fields: Any) -> None:
        if self._file is None:
            return
        fields["t"] = time.monotonic_ns()
        fields["kind"] = kind
        self._file.write(json.dumps(fields, separators=(",", ":")) + "\n")

    # ------------------------------------------------------------------ frames

    def frame_in(self, conn: int, session: str | None, message: Message | None) -> None:
        """A received text or binary frame; ``None``: it was not a JSON-RPC message (``bad: true``)."""
        if message is None:
            self.record("frame", conn=conn, dir="in", session=session, method=None, id=None, error=None,
                        params=None, result_keys=None, bad=True)
        elif isinstance(message, Request):
            self.record("frame", conn=conn, dir="in", session=session, method=message.method, id=message.id,
                        error=None, params=message.params, result_keys=None)
        elif isinstance(message, Notification):
            self.record("frame", conn=conn, dir="in", session=session, method=message.method, id=None,
                        error=None, params=message.params, result_keys=None)
        else:
            assert isinstance(message, ClientReply)
            self.record("frame", conn=conn, dir="in", session=session, method=None, id=message.id, error=None,
                        params=None, result_keys=None)

    def frame_out(self, conn: int, session: str | None, frame: str) -> None:
        """A frame about to be sent (encoded by this server, so always a JSON object)."""
        value = json.loads(frame)
        method = value.get("method")
        fields: dict[str, Any] = {}
        if method is not None:
            params = value.get("params") or {}
            fields["process"] = params.get("processId")
            fields["seq"] = params.get("seq")
        error = value.get("error")
        result = value.get("result")
        self.record(
            "frame", conn=conn, dir="out", session=session, method=method, id=value.get("id"),
            error=error.get("code") if isinstance(error, dict) else None, params=None,
            result_keys=sorted(result) if isinstance(result, dict) else None, **fields,
        )

    # ------------------------------------------------------------------ processes

    def proc_output(self, session: str, process: str, seq: int, stream: str, data: bytes) -> None:
        self.record("proc_output", session=session, process=process, seq=seq, stream=stream,
                    data_b64=base64.b64encode(data).decode("ascii"))

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
