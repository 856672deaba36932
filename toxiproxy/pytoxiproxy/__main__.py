"""``pytoxiproxy-server`` / ``python -m pytoxiproxy``: the flags of ``toxiproxy-server``.

The bound API address is logged on stdout as the JSON line
``{"level":"info","address":"HOST:PORT",...,"message":"Starting Toxiproxy HTTP server"}``
(with ``-port 0`` it carries the real port).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import signal
import socket
import sys
import time

from aiohttp import web

from pytoxiproxy import VERSION
from pytoxiproxy.api import ApiServer
from pytoxiproxy.config import populate_from_file
from pytoxiproxy.log import Logger
from pytoxiproxy.proxy import format_address


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Go-style flags: ``-host``, ``-port``, ``-config``, ``-seed``, ``-version`` (``--x`` works too)."""
    parser = argparse.ArgumentParser(prog="toxiproxy-server", allow_abbrev=False)
    parser.add_argument("-host", "--host", default="localhost", help="Host for toxiproxy's API to listen on")
    parser.add_argument("-port", "--port", default="8474", help="Port for toxiproxy's API to listen on")
    parser.add_argument("-config", "--config", default="", help="JSON file of proxies to create on startup")
    parser.add_argument("-seed", "--seed", type=int, default=None, help="Seed for randomizing toxics with")
    parser.add_argument("-version", "--version", action="store_true", help="print the version")
    parser.add_argument("-proxy-metrics", "--proxy-metrics", action="store_true")
    parser.add_argument("-runtime-metrics", "--runtime-metrics", action="store_true")
    return parser.parse_args(argv)


def _api_socket(host: str, port: int) -> socket.socket:
    infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    infos.sort(key=lambda info: info[0] != socket.AF_INET)
    family, _, _, _, address = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(address)
    sock.listen(128)
    sock.setblocking(False)
    return sock


async def serve(args: argparse.Namespace, log: Logger) -> None:
    """Populate from ``-config``, serve the API until SIGINT/SIGTERM, then stop every proxy."""
    seed = args.seed if args.seed is not None else time.time_ns()
    api = ApiServer(log, random.Random(seed), metrics=args.proxy_metrics or args.runtime_metrics)
    log.info("Starting Toxiproxy", version=VERSION)
    if args.config:
        await populate_from_file(api.collection, args.config, log)
    runner = web.AppRunner(api.app(), access_log=None, handle_signals=False)
    await runner.setup()
    sock = _api_socket(args.host, int(args.port))
    site = web.SockSite(runner, sock, shutdown_timeout=1.0)
    await site.start()
    host, port = sock.getsockname()[:2]
    log.info("Starting Toxiproxy HTTP server", address=format_address(str(host), int(port)))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("Shutdown started")
    with contextlib.suppress(Exception):
        await api.collection.clear()
    await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.version:
        print(f"toxiproxy-server version {VERSION}")
        return 0
    log = Logger()
    try:
        asyncio.run(serve(args, log))
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
