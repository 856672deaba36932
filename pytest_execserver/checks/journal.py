"""Read the reference server's journal (``execserver-ref --journal PATH``; format in docs/journal.md).

The journal is the ground truth for checks on any client: what each process emitted, byte for byte and in
seq order, and every frame each connection received and sent. :func:`read_journal` gives the raw records;
:class:`Journal` a typed view (processes, frames, sessions).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

STREAMS = ("stdout", "stderr", "pty")


class JournalError(ValueError):
    """A journal line (other than a torn last line) is not a JSON object."""


def read_journal(path: str | Path) -> list[dict[str, Any]]:
    """Every record of the journal at ``path``, in order.

    The server flushes whole lines, so only the last line can be torn (the server was killed while writing
    it); that line is dropped. Any other malformed line raises :class:`JournalError`.
    """
    text = Path(path).read_text(encoding="utf-8", errors="surrogateescape")
    lines = text.split("\n")
    records: list[dict[str, Any]] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            if number == len(lines):  # no trailing newline: the write was cut short
                break
            raise JournalError(f"{path}:{number}: not a JSON line: {line[:200]!r}") from None
        if not isinstance(record, dict):
            raise JournalError(f"{path}:{number}: not a JSON object: {line[:200]!r}")
        records.append(record)
    return records


@dataclass(frozen=True)
class Chunk:
    """One chunk a process emitted: its seq, stream and bytes."""

    seq: int
    stream: str
    data: bytes


@dataclass
class JournalProcess:
    """Everything the server observed of one process (one ``processId`` within one session)."""

    session: str
    process_id: str
    argv: list[str]
    cwd: str
    tty: bool
    pid: int | None
    chunks: list[Chunk] = field(default_factory=list)
    exit_code: int | None = None
    exited: bool = False
    exited_seq: int | None = None
    sandbox_denied: bool | None = None
    closed: bool = False
    closed_seq: int | None = None

    def emitted(self, stream: str) -> bytes:
        """The bytes the process wrote to ``stream`` (``stdout``, ``stderr`` or ``pty``), in seq order."""
        return b"".join(c.data for c in sorted(self.chunks, key=lambda c: c.seq) if c.stream == stream)

    @property
    def stdout(self) -> bytes:
        return self.emitted("stdout")

    @property
    def stderr(self) -> bytes:
        return self.emitted("stderr")

    @property
    def pty(self) -> bytes:
        return self.emitted("pty")


@dataclass(frozen=True)
class JournalSession:
    """A session as ``initialize`` created or resumed it on a connection."""

    session: str
    conn: int
    resumed: bool
    t: int


class Journal:
    """A typed view over a journal's records."""

    def __init__(self, records: Iterable[dict[str, Any]]) -> None:
        self.records = list(records)

    @classmethod
    def load(cls, path: str | Path) -> Journal:
        return cls(read_journal(path))

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [r for r in self.records if r.get("kind") == kind]

    def processes(self) -> list[JournalProcess]:
        """Every started process, in start order."""
        found: dict[tuple[str, str], JournalProcess] = {}
        for r in self.records:
            kind = r.get("kind")
            if kind == "proc_start":
                key = (r["session"], r["process"])
                found[key] = JournalProcess(r["session"], r["process"], list(r["argv"]), r["cwd"], bool(r["tty"]),
                                            r.get("pid"))
                continue
            if kind not in ("proc_output", "proc_exited", "proc_closed"):
                continue
            proc = found.get((r["session"], r["process"]))
            if proc is None:
                continue  # its start record was lost with a torn line
            if kind == "proc_output":
                proc.chunks.append(Chunk(r["seq"], r["stream"], base64.b64decode(r["data_b64"])))
            elif kind == "proc_exited":
                proc.exited = True
                proc.exit_code = r["exit_code"]
                proc.exited_seq = r.get("seq")
                proc.sandbox_denied = r.get("sandbox_denied")
            else:
                proc.closed = True
                proc.closed_seq = r.get("seq")
        return list(found.values())

    def process(self, process_id: str, session: str | None = None) -> JournalProcess:
        """The one process with ``process_id`` (in ``session`` if given); KeyError if none or ambiguous."""
        matches = [p for p in self.processes() if p.process_id == process_id and session in (None, p.session)]
        if len(matches) != 1:
            raise KeyError(f"{len(matches)} processes named {process_id!r} in the journal")
        return matches[0]

    def frames(
        self, conn: int | None = None, dir: str | None = None, method: str | None = None
    ) -> list[dict[str, Any]]:
        """Frame records, filtered by connection, direction (``in``/``out``) and method."""
        return [
            r
            for r in self.records
            if r.get("kind") == "frame"
            and (conn is None or r.get("conn") == conn)
            and (dir is None or r.get("dir") == dir)
            and (method is None or r.get("method") == method)
        ]

    def sessions(self) -> list[JournalSession]:
        """Every ``initialize`` that created or resumed a session, in order."""
        return [
            JournalSession(r["session"], r["conn"], bool(r["resumed"]), r["t"]) for r in self.of_kind("session")
        ]

    def connections(self) -> list[int]:
        """Connection ids in the order they were accepted."""
        return [r["conn"] for r in self.of_kind("conn_open")]
