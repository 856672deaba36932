"""The protocol proxy's own Python work per message, without sockets: ``_Connection.received`` with fake
transports, a 160-byte ``process/output`` each way, nothing armed and a fault armed that never matches.

Run: ``.venv/bin/python tests/benchmarks/proxy_python_path.py [--profile]``; an earlier commit's proxy:
``PYTHONPATH=DIR .venv/bin/python tests/benchmarks/proxy_python_path.py`` with ``DIR`` a copy of it
(``git archive COMMIT pytest_execserver | tar -x -C DIR``). Prints µs per message, best of 300 rounds
of 1000 messages each way.
"""

from __future__ import annotations

import asyncio
import cProfile
import json
import pstats
import sys
import time
from typing import Any

from pytest_execserver.faults.protocol import make_fault
from pytest_execserver.faults.protocol.proxy import TO_CLIENT, TO_SERVER, ProtocolProxy, _Connection
from pytest_execserver.faults.protocol.wsframes import encode_frame

PARAMS = {"processId": "bench-p1", "seq": 12345, "stream": "stdout", "chunk": "aGVsbG8gd29ybGQK" * 4}
MESSAGE = json.dumps({"method": "process/output", "params": PARAMS}).encode()
REQUEST = (b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
RESPONSE = (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n")
N = 1_000


class _Transport:
    def write(self, data: bytes) -> None:
        pass

    def is_closing(self) -> bool:
        return False


async def measure(armed: bool, profile: bool) -> float:
    faults = [make_fault("drop", on="never/sent")] if armed else []
    connection = _Connection(ProtocolProxy("127.0.0.1:9", faults), 1)
    transport: Any = _Transport()
    connection.client.transport = transport
    connection.server.transport = transport
    connection._backlog[TO_SERVER] = None  # as if the upstream were connected
    connection.received(TO_SERVER, REQUEST)
    connection.received(TO_CLIENT, RESPONSE)
    up, down = encode_frame(0x1, MESSAGE, mask=True), encode_frame(0x1, MESSAGE, mask=False)

    def run() -> None:
        for _ in range(N):
            connection.received(TO_SERVER, up)
            connection.received(TO_CLIENT, down)

    best = float("inf")
    for _ in range(300):
        began = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - began)
    if profile:
        profiler = cProfile.Profile()
        profiler.runcall(run)
        pstats.Stats(profiler).sort_stats("tottime").print_stats(10)
    return best / N / 2 * 1e6


def main() -> None:
    for armed in (False, True):
        us = asyncio.run(measure(armed, "--profile" in sys.argv))
        label = "armed" if armed else "nothing armed"
        print(f"{label}: {us:.2f} us of Python per message (best of 300 rounds of 1000)")


if __name__ == "__main__":
    main()
