"""``process/start``, ``process/read``, ``process/write``, ``process/signal``, ``process/terminate``."""

from __future__ import annotations

import asyncio
import signal
from typing import Any

from execserver_ref.envelope import INTERNAL_ERROR, RpcError, invalid_params, invalid_request
from execserver_ref.params import (
    AnyStruct,
    AnyValue,
    Base64,
    Bool,
    Enum,
    Field,
    FileUri,
    Opt,
    Seq,
    Str,
    StrMap,
    Struct,
    UInt,
)
from execserver_ref.process import ManagedProcess, SpawnError
from execserver_ref.routing import RequestContext, Route
from execserver_ref.sandbox import parse_policy, sandbox_type

START = Struct(
    "WireExecParams",
    [
        Field("processId", Str()),
        Field("metadata", Opt(AnyStruct("ExecMetadata")), required=False),
        Field("argv", Seq(Str())),
        Field("cwd", FileUri()),
        Field("envPolicy", Opt(AnyStruct("ExecEnvPolicy")), required=False),
        Field("shellSnapshot", Opt(AnyStruct("ShellSnapshotRequest")), required=False),
        Field("env", StrMap()),
        Field("tty", Bool()),
        Field("pipeStdin", Bool(), required=False, default=False, seq_default=True),
        Field("arg0", Opt(Str()), required=False),
        Field("sandbox", Opt(AnyStruct("WireFileSystemSandboxContext")), required=False),
        Field("enforceManagedNetwork", Bool(), required=False, default=False, seq_default=True),
        Field("managedNetwork", Opt(AnyValue()), required=False),
        Field("networkProxy", Opt(AnyStruct("RemoteNetworkProxyLaunchConfig")), required=False),
    ],
)
READ = Struct(
    "ReadParams",
    [
        Field("processId", Str()),
        Field("afterSeq", Opt(UInt("u64")), required=False),
        Field("maxBytes", Opt(UInt("usize")), required=False),
        Field("waitMs", Opt(UInt("u64")), required=False),
    ],
)
WRITE = Struct(
    "WriteParams",
    [Field("processId", Str()), Field("chunk", Base64()), Field("writeId", Str())],
)
SIGNAL = Struct(
    "SignalParams",
    [Field("processId", Str()), Field("signal", Enum("ProcessSignal", ("interrupt",)))],
)
TERMINATE = Struct("TerminateParams", [Field("processId", Str())])

MAX_WAIT_MS = 24 * 3600 * 1000


async def start(conn: RequestContext, p: dict[str, Any]) -> Any:
    session = conn.require_session()
    argv: list[str] = p["argv"]
    if not argv:
        raise invalid_params("argv must not be empty")
    pid: str = p["processId"]
    if pid in session.processes or pid in session.starting:
        raise invalid_request(f"process {pid} already exists")
    config = conn.config
    policy = parse_policy(p["sandbox"])
    try:
        process = ManagedProcess(
            pid,
            argv=argv,
            cwd=p["cwd"],
            env=p["env"],
            tty=p["tty"],
            pipe_stdin=p["pipeStdin"],
            arg0=p["arg0"],
            emit=session.emit,
            retained_bytes=config.retained_bytes,
            bugs=config.bugs,
            on_closed=session.on_process_closed,
            journal=conn.journal,
            session_id=session.session_id,
            sandbox=policy,
            omit_sandbox_denied=config.omit_sandbox_denied,
            take_chunk_loss=session.take_chunk_loss if config.bugs.lose_first_chunk_after_resume else None,
        )
    except SpawnError as exc:
        data = {"kind": exc.kind} if config.codex.spawn_error_kinds else None
        raise RpcError(INTERNAL_ERROR, str(exc), data) from None
    session.processes[pid] = process
    conn.after_response(process.start)
    return {"processId": pid, "sandboxType": sandbox_type(policy)}


async def read(conn: RequestContext, p: dict[str, Any]) -> Any:
    session = conn.require_session()
    pid = p["processId"]
    after_seq = p["afterSeq"] or 0
    max_bytes = p["maxBytes"]
    wait_ms = min(p["waitMs"] or 0, MAX_WAIT_MS)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_ms / 1000
    while True:
        process = session.processes.get(pid)
        if process is None:
            raise invalid_request(f"unknown process id {pid}")
        result, ready = process.read(after_seq, max_bytes)
        remaining = deadline - loop.time()
        if ready or remaining <= 0 or session.disposed:
            return result
        await conn.race_disconnect(process.wait_change(remaining))


async def write(conn: RequestContext, p: dict[str, Any]) -> Any:
    session = conn.require_session()
    process = session.processes.get(p["processId"])
    if process is None:
        return {"status": "unknownProcess"}
    return {"status": process.write(p["chunk"], p["writeId"])}


async def signal_(conn: RequestContext, p: dict[str, Any]) -> Any:
    session = conn.require_session()
    process = session.processes.get(p["processId"])
    if process is not None:
        process.signal_group(signal.SIGINT)
    return {}


async def terminate(conn: RequestContext, p: dict[str, Any]) -> Any:
    session = conn.require_session()
    process = session.processes.get(p["processId"])
    return {"running": process.terminate() if process is not None else False}


ROUTES = {
    "process/start": Route("exec", START, start),
    "process/read": Route("exec", READ, read),
    "process/write": Route("exec", WRITE, write),
    "process/signal": Route("exec", SIGNAL, signal_),
    "process/terminate": Route("exec", TERMINATE, terminate),
}
