"""Large output byte-exact in both modes, and receiver lag (tiny queue + paused consumer)."""

from __future__ import annotations

import hashlib

import pytest

from pytest_execserver.checks.history import History
from tests.plugin.client.client_testkit import MakeClient

# 3 MiB of non-repeating lines; written in bursts so a polling client can keep up with 1 MiB retention.
SIZE_LINES = 48_000  # 48k lines * 64 bytes = 3,072,000 bytes
BIG = (
    'i=0; while [ $i -lt 48 ]; do seq -f "%063g" $((i*1000)) $((i*1000+999)); '
    "i=$((i+1)); [ $((i % 4)) -eq 0 ] && sleep 0.02; done"
)


def _expected() -> bytes:
    return b"".join(b"%063d\n" % n for n in range(SIZE_LINES))


@pytest.mark.parametrize("mode", ["event-stream", "legacy-read"])
async def test_large_output_is_byte_exact(make_client: MakeClient, mode: str, history: History) -> None:
    client = await make_client(mode=mode)
    result = await client.run(["/bin/sh", "-c", BIG], timeout=30)
    expected = _expected()
    assert len(result.stdout) == len(expected) == 3_072_000
    assert hashlib.sha256(result.stdout).digest() == hashlib.sha256(expected).digest()
    delivered = [e.seq for e in history.select("deliver:*") if e.client == client.client_id]
    assert delivered == sorted(set(delivered))  # exactly once, in order
    assert not history.select("recover", "fail")


async def test_receiver_lag_recovers_byte_exact(make_client: MakeClient, history: History) -> None:
    client = await make_client(queue_limit=4)
    client.pause_consumer(600)
    # one chunk per line (the sleeps keep the server from coalescing), far more events than the queue holds
    script = "for i in $(seq 0 59); do echo lag-line-$i; sleep 0.005; done; echo last"
    result = await client.run(["/bin/sh", "-c", script], timeout=15)
    expected = b"".join(b"lag-line-%d\n" % i for i in range(60)) + b"last\n"
    assert result.stdout == expected
    assert result.exit_code == 0
    recovers = history.select("recover")
    assert [e.kind for e in recovers][:2] == ["invoke", "ok"]
    assert recovers[0].data["reason"] == "lag"
    delivered = [e.seq for e in history.select("deliver:*")]
    assert delivered == list(range(1, len(delivered) + 1))  # gap-free, no duplicates
    wire = history.select("wire:process/output")
    assert len(wire) >= len(result.chunks)  # everything was seen on the wire, some dropped by the queue


async def test_consumer_delay_setting_also_recovers(make_client: MakeClient, history: History) -> None:
    client = await make_client(queue_limit=2, consumer_delay_s=0.01)
    script = "i=0; while [ $i -lt 100 ]; do echo d$i; i=$((i+1)); done"
    result = await client.run(["/bin/sh", "-c", script], timeout=15)
    assert result.stdout == b"".join(b"d%d\n" % i for i in range(100))


@pytest.mark.parametrize("mode", ["event-stream", "legacy-read"])
async def test_evicted_output_is_an_error_not_a_short_success(
    make_client: MakeClient, mode: str, history: History
) -> None:
    """Paused past the server's 1 MiB retention: the client must raise, never return missing bytes."""
    from pytest_execserver.client import RecoveryError

    client = await make_client(mode=mode, queue_limit=4)
    client.pause_consumer(700)
    with pytest.raises(RecoveryError, match="no longer retained"):
        await client.run(["/bin/sh", "-c", "head -c 3000000 /dev/zero"], timeout=15)
    assert history.select("process", "fail")
