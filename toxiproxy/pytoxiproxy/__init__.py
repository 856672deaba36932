"""Embedded Toxiproxy 2.12-compatible server (HTTP API on aiohttp, TCP proxying on asyncio)."""

VERSION = "2.12.0"

__all__ = ["VERSION"]
