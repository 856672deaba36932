"""``fs/*`` methods (paths are ``file://`` URIs; a restricted ``sandbox`` confines writes to its writable roots)."""

from __future__ import annotations

from typing import Any

from execserver_ref import fs
from execserver_ref.envelope import internal_error
from execserver_ref.params import (
    AnyStruct,
    Base64,
    Bool,
    Field,
    FileUri,
    Opt,
    Str,
    Struct,
    UInt,
    Variant,
    to_file_uri,
)
from execserver_ref.routing import RequestContext, Route

READ_ONLY = "Read-only file system (os error 30)"


def _check_write(conn: RequestContext, p: dict[str, Any], key: str = "path", *, follow_final: bool = True) -> None:
    """codex runs a sandboxed fs write inside the sandbox: outside the writable roots it fails with EROFS."""
    from execserver_ref.sandbox import may_write, parse_policy

    if conn.config.bugs.ignore_sandbox:
        return
    if not may_write(parse_policy(p.get("sandbox")), p[key], follow_final=follow_final):
        raise internal_error(READ_ONLY)


def _sandbox() -> Field:
    return Field("sandbox", Opt(AnyStruct("WireFileSystemSandboxContext")), required=False)


def _unnamed_flag() -> Field:
    """A ``#[serde(default)] Option<bool>`` codex field before ``sandbox`` whose wire name is not observed:
    it only occupies its slot in the sequence form (``[path, …, null, sandbox]``)."""
    return Field(None, Opt(Bool()), required=False, seq_default=True)


def _path_struct(name: str, *extra: Field, flag: bool = True) -> Struct:
    return Struct(name, [Field("path", FileUri()), *extra, *([_unnamed_flag()] if flag else []), _sandbox()])


# Struct names and sequence layouts (field count, order, defaults) as observed on codex 0.169.0.
READ_FILE = _path_struct("WireFsReadFileParams")
WRITE_FILE = _path_struct(
    "WireFsWriteFileParams",
    Field("dataBase64", Base64("fs/writeFile requires valid base64 dataBase64: ", code_request=True)),
)
CREATE_DIRECTORY = _path_struct("WireFsCreateDirectoryParams", Field("recursive", Opt(Bool()), required=False))
GET_METADATA = _path_struct("WireFsGetMetadataParams")
CANONICALIZE = _path_struct("WireFsCanonicalizeParams", flag=False)
READ_DIRECTORY = _path_struct("WireFsReadDirectoryParams", flag=False)
REMOVE = _path_struct(
    "WireFsRemoveParams",
    Field("recursive", Opt(Bool()), required=False),
    Field("force", Opt(Bool()), required=False),
)
COPY = Struct(
    "WireFsCopyParams",
    [
        Field("sourcePath", FileUri()),
        Field("destinationPath", FileUri()),
        Field("recursive", Bool()),
        _sandbox(),
    ],
)
OPEN = Struct(
    "WireFsOpenParams",
    [
        Field("handleId", Str()),
        Field("path", FileUri()),
        # codex's open mode (`read` | `replace`, wire name not observed); the reference always reads
        Field(None, Variant(("read", "replace")), required=False, seq_default=True),
        _sandbox(),
    ],
)
READ_BLOCK = Struct(
    "FsReadBlockParams",
    [Field("handleId", Str()), Field("offset", UInt("u64")), Field("len", UInt("usize"))],
)
CLOSE = Struct("FsCloseParams", [Field("handleId", Str())])


async def read_file(conn: RequestContext, p: dict[str, Any]) -> Any:
    return fs.read_file(p["path"])


async def write_file(conn: RequestContext, p: dict[str, Any]) -> Any:
    _check_write(conn, p)
    return fs.write_file(p["path"], p["dataBase64"])


async def create_directory(conn: RequestContext, p: dict[str, Any]) -> Any:
    _check_write(conn, p)
    return fs.create_directory(p["path"], p["recursive"])


async def get_metadata(conn: RequestContext, p: dict[str, Any]) -> Any:
    return fs.get_metadata(p["path"])


async def canonicalize(conn: RequestContext, p: dict[str, Any]) -> Any:
    return {"path": to_file_uri(fs.canonicalize(p["path"]))}


async def read_directory(conn: RequestContext, p: dict[str, Any]) -> Any:
    return fs.read_directory(p["path"])


async def remove(conn: RequestContext, p: dict[str, Any]) -> Any:
    _check_write(conn, p, follow_final=False)
    return fs.remove(p["path"], p["recursive"], p["force"])


async def copy(conn: RequestContext, p: dict[str, Any]) -> Any:
    _check_write(conn, p, "destinationPath")
    return fs.copy(p["sourcePath"], p["destinationPath"], p["recursive"])


async def open_(conn: RequestContext, p: dict[str, Any]) -> Any:
    return fs.open_handle(conn.require_session().file_handles, p["handleId"], p["path"])


async def read_block(conn: RequestContext, p: dict[str, Any]) -> Any:
    return fs.read_block(conn.require_session().file_handles, p["handleId"], p["offset"], p["len"])


async def close(conn: RequestContext, p: dict[str, Any]) -> Any:
    return fs.close_handle(conn.require_session().file_handles, p["handleId"])


ROUTES = {
    "fs/readFile": Route("filesystem", READ_FILE, read_file),
    "fs/writeFile": Route("filesystem", WRITE_FILE, write_file),
    "fs/createDirectory": Route("filesystem", CREATE_DIRECTORY, create_directory),
    "fs/getMetadata": Route("filesystem", GET_METADATA, get_metadata),
    "fs/canonicalize": Route("filesystem", CANONICALIZE, canonicalize),
    "fs/readDirectory": Route("filesystem", READ_DIRECTORY, read_directory),
    "fs/remove": Route("filesystem", REMOVE, remove),
    "fs/copy": Route("filesystem", COPY, copy),
    "fs/open": Route("filesystem", OPEN, open_),
    "fs/readBlock": Route("filesystem", READ_BLOCK, read_block),
    "fs/close": Route("filesystem", CLOSE, close),
}
