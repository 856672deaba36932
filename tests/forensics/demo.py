"""The demonstration test the shrink tests run in a pytester project (its source, as text).

A stream of 40 lines, 50 ms apart, under a seeded schedule of eight faults over 1.6 s: slicer, receiver
lag, latency, bandwidth -- and one disconnect. On the reference server with ``--inject-bug
lose-first-chunk-after-resume`` only the disconnect matters: the client resumes its session, the next chunk
is lost for good, and the read-back that should fill the hole fails (``RecoveryError``). On a correct
server the same schedule passes.
"""

from __future__ import annotations

from pytest_execserver.faults.kinds import Fault
from pytest_execserver.faults.schedule import ScheduledFault, draw_schedule

BUG = "lose-first-chunk-after-resume"
SEED = 22  # a seed whose eight faults include exactly one disconnect, in the middle of the stream
KINDS = ("latency", "bandwidth", "slicer", "receiver_lag", Fault("disconnect", mode="reset"))
WINDOW_MS = 1600

BODY = '''
SCRIPT = "i=0; while [ $i -lt 40 ]; do echo line-$i; i=$((i+1)); sleep 0.05; done"
EXPECTED = b"".join(b"line-%d\\n" % i for i in range(40))


async def test_stream_survives_the_schedule(exec_client, exec_scratch):
    result = await exec_client.run(["/bin/sh", "-c", SCRIPT], cwd=exec_scratch, env={"PATH": "/usr/bin:/bin"})
    assert result.stdout == EXPECTED
'''

IMPORTS = "import pytest\nfrom pytest_execserver.faults.kinds import Fault\n"


def seeded_source() -> str:
    """The test with its seeded schedule of eight faults."""
    marker = ('@pytest.mark.fault_schedule("latency", "bandwidth", "slicer", "receiver_lag", '
              f'Fault("disconnect", mode="reset"), seed={SEED}, duration_ms={WINDOW_MS}, count=8)')
    return IMPORTS + BODY.replace("\nasync def", f"\n{marker}\nasync def")


def pasted_source(marker_line: str) -> str:
    """The same test with a printed ``@pytest.mark.fault_schedule(...)`` line pasted over its marker."""
    return IMPORTS + BODY.replace("\nasync def", f"\n{marker_line}\nasync def")


def drawn_schedule() -> list[ScheduledFault]:
    return draw_schedule(SEED, KINDS, duration_ms=WINDOW_MS, count=8)
