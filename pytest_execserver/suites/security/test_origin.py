"""Cross-site websocket hijacking: an upgrade that carries an ``Origin`` (every browser sends one) is refused
with 403, with or without a valid credential; a client that sends no ``Origin`` (every non-browser) is
accepted. codex 0.171.0 refuses every ``Origin`` value, even a loopback one."""

from __future__ import annotations

import pytest

from pytest_execserver.suites.security.handshake import try_upgrade
from pytest_execserver.suites.security.servers import SecurityServers

pytestmark = pytest.mark.asyncio

BROWSER_ORIGINS = ("http://evil.example", "https://evil.example", "http://127.0.0.1", "http://localhost", "null")


@pytest.mark.parametrize("origin", BROWSER_ORIGINS)
async def test_browser_origin_is_refused(origin: str, security_servers: SecurityServers) -> None:
    running = security_servers.plain()
    verdict = await try_upgrade(running.server.url, {"Origin": origin})
    assert verdict.status == 403, f"Origin {origin!r}: the server answered {verdict}; codex 0.171.0 answers 403"


async def test_browser_origin_with_a_valid_token_is_refused(security_servers: SecurityServers) -> None:
    running = security_servers.capability()
    headers = {"Origin": "http://evil.example", "Authorization": f"Bearer {running.token}"}
    verdict = await try_upgrade(running.server.url, headers)
    assert verdict.status == 403, (f"a valid token from a browser page (Origin http://evil.example): the server "
                                   f"answered {verdict}; codex 0.171.0 answers 403 (the token may have leaked)")


async def test_no_origin_is_accepted(security_servers: SecurityServers) -> None:
    verdict = await try_upgrade(security_servers.plain().server.url, {})
    assert verdict.accepted, f"an upgrade without Origin: the server answered {verdict}; codex upgrades it"
