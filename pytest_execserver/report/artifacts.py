"""Failure artifacts: a failing test's history (JSONL), spans (JSON), server log and the reference server's
journal (its part written during the test), saved to one folder."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from pytest_execserver.checks.history import History

_UNSAFE = re.compile(r"[^A-Za-z0-9_.=-]+")


def folder_for(root: Path, nodeid: str, worker: str | None = None) -> Path:
    """``root/<sanitized node id>[-<worker>]`` (stable per test, unique per xdist worker)."""
    name = _UNSAFE.sub("_", nodeid).strip("_")[:150] or "test"
    return root / (f"{name}-{worker}" if worker else name)


def save(
    root: Path,
    nodeid: str,
    *,
    history: History | None,
    spans: list[dict[str, Any]] | None,
    server_log: Path | None,
    server_log_offset: int = 0,
    journal: Path | None = None,
    journal_offset: int = 0,
    extra: dict[str, Any] | None = None,
    worker: str | None = None,
) -> dict[str, str]:
    """Write what is available; returns ``{"history": path, "spans": path, "server_log": path, ...}``."""
    folder = folder_for(root, nodeid, worker)
    folder.mkdir(parents=True, exist_ok=True)
    paths: dict[str, str] = {}
    if history is not None:
        target = folder / "history.jsonl"
        history.save(target)
        paths["history"] = str(target)
    if spans is not None:
        target = folder / "spans.json"
        target.write_text(json.dumps(spans, indent=1, default=str) + "\n")
        paths["spans"] = str(target)
    if server_log is not None:
        paths["server_log"] = _copy_tail(server_log, server_log_offset, folder / "server.log")
    if journal is not None:
        paths["journal"] = _copy_tail(journal, journal_offset, folder / "journal.jsonl")
    if extra:
        target = folder / "execserver.json"
        target.write_text(json.dumps(extra, indent=1, default=str) + "\n")
        paths["summary"] = str(target)
    return paths


def _copy_tail(source: Path, offset: int, target: Path) -> str:
    """Copy ``source`` from byte ``offset`` on (what was written during the test) to ``target``."""
    try:
        with open(source, "rb") as src:
            src.seek(offset)
            target.write_bytes(src.read())
    except OSError as exc:
        target.write_text(f"{source} unreadable: {exc}\n")
    return str(target)


def log_size(path: Path | None) -> int:
    if path is None:
        return 0
    try:
        return path.stat().st_size
    except OSError:
        return 0


def save_file(root: Path, nodeid: str, name: str, text: str, worker: str | None = None) -> str:
    """Write one more artifact (``timeline.svg``, ``shrunk-schedule.txt``...) into the test's folder."""
    folder = folder_for(root, nodeid, worker)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / name
    target.write_text(text)
    return str(target)
