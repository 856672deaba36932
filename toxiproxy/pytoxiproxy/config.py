"""The ``-config`` file: a JSON list of proxies created at startup, like POST /populate."""

from __future__ import annotations

from pathlib import Path

from pytoxiproxy.log import Logger
from pytoxiproxy.proxies import ProxyCollection


async def populate_from_file(collection: ProxyCollection, path: str, log: Logger) -> None:
    """Create the proxies in ``path``; errors are logged, never fatal (as in Go)."""
    try:
        body = Path(path).read_bytes()
    except OSError as exc:
        log.error("Error reading config file", config=path, error=str(exc))
        return
    proxies, error = await collection.populate(body)
    if error is not None:
        log.error("Failed to populate proxies from file", error=error.message)
    else:
        log.info("Populated proxies from file", config=path, proxies=len(proxies))
