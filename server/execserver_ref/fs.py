"""Filesystem operations behind the ``fs/*`` methods, with codex's error mapping.

ENOENT → -32004 (not found), other OS errors → -32603, both as ``<strerror> (os error N)``.
"""

from __future__ import annotations

import base64
import os
import shutil
import stat
from collections.abc import Callable
from typing import Any, TypeVar

from execserver_ref.envelope import NOT_FOUND, RpcError, internal_error, invalid_request
from execserver_ref.process import os_error_message
from execserver_ref.session import MAX_FILE_HANDLES

T = TypeVar("T")
MAX_BLOCK = 8 * 1024 * 1024


def os_call(fn: Callable[[], T]) -> T:
    try:
        return fn()
    except FileNotFoundError as exc:
        raise RpcError(NOT_FOUND, os_error_message(exc)) from None
    except OSError as exc:
        raise internal_error(os_error_message(exc)) from None


def read_file(path: str) -> dict[str, Any]:
    st = os_call(lambda: os.stat(path))
    if not stat.S_ISREG(st.st_mode):
        raise invalid_request(f"path `{path}` is not a file")

    def run() -> bytes:
        with open(path, "rb") as handle:
            return handle.read()

    data = os_call(run)
    return {"dataBase64": base64.b64encode(data).decode("ascii")}


def write_file(path: str, data: bytes) -> dict[str, Any]:
    def run() -> None:
        with open(path, "wb") as handle:
            handle.write(data)

    os_call(run)
    return {}


def create_directory(path: str, recursive: bool | None) -> dict[str, Any]:
    if recursive is None or recursive:
        os_call(lambda: os.makedirs(path, exist_ok=True))
    else:
        os_call(lambda: os.mkdir(path))
    return {}


def get_metadata(path: str) -> dict[str, Any]:
    st = os_call(lambda: os.stat(path))
    lst = os_call(lambda: os.lstat(path))
    birth = getattr(st, "st_birthtime", None)
    return {
        "isDirectory": stat.S_ISDIR(st.st_mode),
        "isFile": stat.S_ISREG(st.st_mode),
        "isSymlink": stat.S_ISLNK(lst.st_mode),
        "size": st.st_size,
        "createdAtMs": int(birth * 1000) if birth else 0,
        "modifiedAtMs": st.st_mtime_ns // 1_000_000,
    }


def canonicalize(path: str) -> str:
    return os_call(lambda: os.path.realpath(path, strict=True))


def read_directory(path: str) -> dict[str, Any]:
    def run() -> list[dict[str, Any]]:
        with os.scandir(path) as entries:
            return [
                {
                    "fileName": entry.name,
                    "isDirectory": entry.is_dir(follow_symlinks=False),
                    "isFile": entry.is_file(follow_symlinks=False),
                }
                for entry in entries
            ]

    return {"entries": os_call(run)}


def remove(path: str, recursive: bool | None, force: bool | None) -> dict[str, Any]:
    recursive = True if recursive is None else recursive
    force = True if force is None else force

    def run() -> None:
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            if force:
                return
            raise
        if stat.S_ISDIR(st.st_mode):
            if recursive:
                shutil.rmtree(path)
            else:
                os.rmdir(path)
        else:
            os.unlink(path)

    os_call(run)
    return {}


def copy(source: str, destination: str, recursive: bool) -> dict[str, Any]:
    st = os_call(lambda: os.stat(source))
    if stat.S_ISDIR(st.st_mode):
        if not recursive:
            raise invalid_request("fs/copy requires recursive: true when sourcePath is a directory")
        os_call(lambda: shutil.copytree(source, destination, symlinks=True, dirs_exist_ok=True))
    else:
        os_call(lambda: shutil.copyfile(source, destination))
    return {}


def open_handle(handles: dict[str, int], handle_id: str, path: str) -> dict[str, Any]:
    if handle_id in handles:
        raise invalid_request(f"file handle `{handle_id}` is already open")
    if len(handles) >= MAX_FILE_HANDLES:
        raise internal_error("too many open file handles")
    fd = os_call(lambda: os.open(path, os.O_RDONLY | os.O_CLOEXEC))
    handles[handle_id] = fd
    return {"handleId": handle_id}


def read_block(handles: dict[str, int], handle_id: str, offset: int, length: int) -> dict[str, Any]:
    fd = handles.get(handle_id)
    if fd is None:
        raise RpcError(NOT_FOUND, f"unknown file handle `{handle_id}`")
    want = min(length, MAX_BLOCK)
    data = os_call(lambda: os.pread(fd, want, min(offset, 2**63 - 1)))
    return {"chunk": base64.b64encode(data).decode("ascii"), "eof": len(data) < length}


def close_handle(handles: dict[str, int], handle_id: str) -> dict[str, Any]:
    """Like codex: closing an unknown or already-closed handle is not an error."""
    fd = handles.pop(handle_id, None)
    if fd is not None:
        os.close(fd)
    return {}
