"""``fs/*`` methods (paths are ``file://`` URIs; ``sandbox`` is accepted and ignored)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from execserver_ref import fs
from execserver_ref.handlers import Route
from execserver_ref.params import AnyStruct, Base64, Bool, Field, FileUri, Opt, Str, Struct, UInt, to_file_uri

if TYPE_CHECKING:
    from execserver_ref.connection import Connection


def _sandbox() -> Field:
    return Field("sandbox", Opt(AnyStruct("WireFileSystemSandboxContext")), required=False)


def _path_struct(name: str, *extra: Field) -> Struct:
    return Struct(name, [Field("path", FileUri()), *extra, _sandbox()])


READ_FILE = _path_struct("FsReadFileParams")
WRITE_FILE = _path_struct(
    "FsWriteFileParams",
    Field("dataBase64", Base64("fs/writeFile requires valid base64 dataBase64: ", code_request=True)),
)
CREATE_DIRECTORY = _path_struct("FsCreateDirectoryParams", Field("recursive", Opt(Bool()), required=False))
GET_METADATA = _path_struct("FsGetMetadataParams")
CANONICALIZE = _path_struct("FsCanonicalizeParams")
READ_DIRECTORY = _path_struct("FsReadDirectoryParams")
REMOVE = _path_struct(
    "FsRemoveParams",
    Field("recursive", Opt(Bool()), required=False),
    Field("force", Opt(Bool()), required=False),
)
COPY = Struct(
    "FsCopyParams",
    [
        Field("sourcePath", FileUri()),
        Field("destinationPath", FileUri()),
        Field("recursive", Bool()),
        _sandbox(),
    ],
)
OPEN = Struct("FsOpenParams", [Field("handleId", Str()), Field("path", FileUri()), _sandbox()])
READ_BLOCK = Struct(
    "FsReadBlockParams",
    [Field("handleId", Str()), Field("offset", UInt("u64")), Field("len", UInt("usize"))],
)
CLOSE = Struct("FsCloseParams", [Field("handleId", Str())])


async def read_file(conn: Connection, p: dict[str, Any]) -> Any:
    return fs.read_file(p["path"])


async def write_file(conn: Connection, p: dict[str, Any]) -> Any:
    return fs.write_file(p["path"], p["dataBase64"])


async def create_directory(conn: Connection, p: dict[str, Any]) -> Any:
    return fs.create_directory(p["path"], p["recursive"])


async def get_metadata(conn: Connection, p: dict[str, Any]) -> Any:
    return fs.get_metadata(p["path"])


async def canonicalize(conn: Connection, p: dict[str, Any]) -> Any:
    return {"path": to_file_uri(fs.canonicalize(p["path"]))}


async def read_directory(conn: Connection, p: dict[str, Any]) -> Any:
    return fs.read_directory(p["path"])


async def remove(conn: Connection, p: dict[str, Any]) -> Any:
    return fs.remove(p["path"], p["recursive"], p["force"])


async def copy(conn: Connection, p: dict[str, Any]) -> Any:
    return fs.copy(p["sourcePath"], p["destinationPath"], p["recursive"])


async def open_(conn: Connection, p: dict[str, Any]) -> Any:
    return fs.open_handle(conn.require_session().file_handles, p["handleId"], p["path"])


async def read_block(conn: Connection, p: dict[str, Any]) -> Any:
    return fs.read_block(conn.require_session().file_handles, p["handleId"], p["offset"], p["len"])


async def close(conn: Connection, p: dict[str, Any]) -> Any:
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
