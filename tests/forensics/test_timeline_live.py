"""A failing chaos test leaves a timeline (``timeline.svg`` in its artifacts) that shows the fault and the
event that broke the invariant; the JSON report records it and the HTML page links it. Real server (with a
deliberate bug), real Toxiproxy, the harness client, in a pytester project."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from pytest_execserver.report.page import write_page
from pytest_execserver.report.timeline import FAULT_COLOURS

pytestmark = pytest.mark.timeout(300)

CHAOS_TEST = '''
import pytest

SCRIPT = "printf one; sleep 0.2; printf two; sleep 0.2; printf three"


@pytest.mark.chaos("latency")
async def test_three_chunks_in_order(exec_client, exec_scratch):
    result = await exec_client.run(["/bin/sh", "-c", SCRIPT], cwd=exec_scratch, env={"PATH": "/usr/bin:/bin"})
    assert result.stdout == b"onetwothree"
'''


def test_failing_chaos_test_leaves_a_timeline_with_the_fault_and_the_broken_invariant(
        pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_chaos_demo=CHAOS_TEST)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--execserver-server", "ref --inject-bug reorder",
                                           "--execserver-report", "report.json", timeout=240)
    result.assert_outcomes(failed=1)  # the server swaps chunks 1 and 2 on the wire: ordered_output
    assert "execserver timeline" in result.stdout.str()
    (svg_path,) = pytester.path.glob("execserver-artifacts/*latency*/timeline.svg")
    svg = svg_path.read_text()
    root = ET.fromstring(svg)
    assert root.tag.endswith("svg")
    assert f'fill="{FAULT_COLOURS["latency"]}" opacity="0.18"' in svg  # the fault window, shaded
    assert "[ordered_output]" in svg and "<circle" in svg  # the event that broke it, ringed and named

    report = json.loads((pytester.path / "report.json").read_text())
    (test,) = report["tests"]
    assert test["artifacts"]["timeline"] == str(svg_path)
    page = write_page(pytester.path / "report.json").read_text()
    link = Path(svg_path).relative_to(pytester.path).as_posix()
    assert f'href="{link}"' in page

    # the reference server's journal of this test is saved beside it: the ground truth for forensics
    journal = [json.loads(line) for line in (svg_path.parent / "journal.jsonl").read_text().splitlines()]
    assert test["artifacts"]["journal"] == str(svg_path.parent / "journal.jsonl")
    starts = [r for r in journal if r.get("kind") == "proc_start"]
    assert len(starts) == 1 and "printf one" in json.dumps(starts[0])
