"""The relay as a process (confined, real sockets), driven by a small Python executor and client: routing,
the fault API, rejections, and the command line's errors. No codex needed."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest
import pytest_asyncio
from execserver_relay.frames import build_frame, parse_frame

from pytest_execserver.servers.relay_topology import AUTH_TOKEN, RelayProcess

ENV = "env-svc"
KEY = {"suite": "Noise_hybridIK_X25519+MLKEM768_AESGCM_SHA256", "x25519_public_key": "eA==",
       "mlkem768_public_key": "bQ=="}


@pytest_asyncio.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def register_and_connect(relay: RelayProcess, http: aiohttp.ClientSession) -> tuple[str, str]:
    async with http.post(f"{relay.url}/cloud/environment/{ENV}/register", headers={"Authorization": "Bearer r"},
                         json={"security_profile": "noise_hybrid_ik_v1", "executor_public_key": KEY}) as response:
        assert response.status == 200
        environment_url = (await response.json())["url"]
    async with http.post(f"{relay.url}/cloud/environment/{ENV}/connect",
                         headers={"Authorization": f"Bearer {AUTH_TOKEN}"},
                         json={"harness_public_key": KEY}) as response:
        assert response.status == 200
        body = await response.json()
    assert body["executor_public_key"] == KEY
    return environment_url, body["url"]


async def test_frames_travel_between_executor_and_client_through_the_process(
        relay: RelayProcess, http: aiohttp.ClientSession) -> None:
    environment_url, harness_url = await register_and_connect(relay, http)
    assert environment_url.startswith("ws://127.0.0.1:") and harness_url.startswith("ws://127.0.0.1:")
    async with http.ws_connect(environment_url) as executor, http.ws_connect(harness_url) as client:
        await client.send_bytes(build_frame("s1", "resume"))
        assert parse_frame(await executor.receive_bytes(timeout=5)).kind == "resume"
        reply = build_frame("s1", "data", seq=1, payload=b"ciphertext")
        await executor.send_bytes(reply)
        assert await client.receive_bytes(timeout=5) == reply  # the exact bytes
    events = relay.wait_for(lambda ev: any(e["event"] == "ws_close" for e in ev), what="close")
    frames = [e for e in events if e["event"] == "frame"]
    assert [(e["direction"], e["kind"]) for e in frames] == [("to_environment", "resume"), ("to_harness", "data")]


async def test_delay_fault_over_http_holds_the_frame(relay: RelayProcess, http: aiohttp.ClientSession) -> None:
    environment_url, harness_url = await register_and_connect(relay, http)
    relay.post_faults({"kind": "frame", "action": "delay", "nth": 1, "delay_s": 0.5})
    async with http.ws_connect(environment_url) as executor, http.ws_connect(harness_url) as client:
        await client.send_bytes(build_frame("s1", "resume"))
        await executor.receive_bytes(timeout=5)
        sent = time.monotonic()
        await executor.send_bytes(build_frame("s1", "data", seq=1, payload=b"a"))
        await executor.send_bytes(build_frame("s1", "data", seq=2, payload=b"b"))
        first = parse_frame(await client.receive_bytes(timeout=5))
        waited = time.monotonic() - sent
        second = parse_frame(await client.receive_bytes(timeout=5))
    assert (first.seq, second.seq) == (1, 2) and waited >= 0.45
    assert relay.faults()[0]["times"] == 0


async def test_upgrade_rejection_carries_the_reason_header(relay: RelayProcess,
                                                           http: aiohttp.ClientSession) -> None:
    _, harness_url = await register_and_connect(relay, http)
    relay.post_faults({"kind": "upgrade", "role": "harness", "status": 401, "reason": "invalid_signature"})
    with pytest.raises(aiohttp.WSServerHandshakeError) as raised:
        await http.ws_connect(harness_url)
    assert raised.value.status == 401
    assert raised.value.headers is not None
    assert raised.value.headers["x-codex-rendezvous-rejection-reason"] == "invalid_signature"


async def test_bad_fault_specs_get_a_400_with_the_reason(relay: RelayProcess, http: aiohttp.ClientSession) -> None:
    async with http.post(f"{relay.url}/faults", json={"faults": [{"kind": "frame", "action": "explode"}]}) as r:
        assert r.status == 400
        assert "frame action" in (await r.json())["error"]["message"]
    async with http.post(f"{relay.url}/faults", data=b"{not json") as r:
        assert r.status == 400


async def test_registry_fault_over_http(relay: RelayProcess, http: aiohttp.ClientSession) -> None:
    relay.post_faults({"kind": "registry", "endpoint": "register", "status": 429, "code": "rate_limited"})
    async with http.post(f"{relay.url}/cloud/environment/{ENV}/register", headers={"Authorization": "Bearer r"},
                         json={"security_profile": "noise_hybrid_ik_v1", "executor_public_key": KEY}) as response:
        assert response.status == 429
        assert (await response.json())["error"]["code"] == "rate_limited"


async def test_rendezvous_address_per_role(relay: RelayProcess, http: aiohttp.ClientSession) -> None:
    """``POST /rendezvous`` hands one role its URLs on another loopback address (a Toxiproxy listener in
    front of the relay); anything not ``ws://<loopback IP>:PORT`` is a 400; ``null`` restores the default."""
    relay.set_rendezvous("harness", "ws://127.0.0.1:1")
    environment_url, harness_url = await register_and_connect(relay, http)
    assert harness_url.startswith("ws://127.0.0.1:1/relay?role=harness")
    assert environment_url.startswith(relay.url.replace("http://", "ws://") + "/relay?role=environment")
    for bad in ({"harness": "ws://10.0.0.1:80"}, {"harness": "ws://example.com:80"}, {"client": "ws://127.0.0.1:1"}):
        async with http.post(f"{relay.url}/rendezvous", json=bad) as r:
            assert r.status == 400, bad
            assert (await r.json())["error"]["code"] == "invalid_rendezvous"
    relay.set_rendezvous("harness", None)
    assert (await register_and_connect(relay, http))[1].startswith(relay.url.replace("http://", "ws://"))


@pytest.mark.parametrize(("argv", "message"), [
    (["--listen", "ws://0.0.0.0:0"], "not a loopback"),
    (["--listen", "tcp://127.0.0.1:0"], "unsupported --listen"),
    (["--faults", '[{"kind": "frame", "action": "explode"}]'], "frame action"),
])
def test_cli_refuses_bad_arguments_with_a_message(argv: list[str], message: str) -> None:
    result = subprocess.run([sys.executable, "-m", "execserver_relay", *argv], capture_output=True, text=True,
                            timeout=30)
    assert result.returncode == 2 and message in result.stderr
