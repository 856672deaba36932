"""Installing the plugin costs nothing to a session that does not use it (issue 15, finding 2).

The entry module imports only pytest (plus pytest-asyncio, which pytest loads anyway) and the harness's
pure modules; the heavy libraries load when a test first uses a harness fixture. The harness's spans go
to a tracer provider of its own, so a project's own ``set_tracer_provider`` still works.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("websockets", "opentelemetry", "requests", "toxiproxy", "aiohttp", "pytest_execserver.client",
         "pytest_execserver.glue.fixtures", "pytest_execserver.faults.toxi", "hypothesis")


def loaded_after(statement: str) -> list[str]:
    """The HEAVY modules (or their submodules) in ``sys.modules`` after ``statement``, in a fresh interpreter."""
    code = (f"import sys, json; {statement}; "
            f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {list(HEAVY)!r} "
            f"or m in {list(HEAVY)!r})))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    loaded: list[str] = json.loads(out.stdout)
    return loaded


@pytest.mark.parametrize("module", ["pytest_execserver.plugin", "pytest_execserver"])
def test_entry_module_imports_nothing_heavy(module: str) -> None:
    assert loaded_after(f"import {module}") == []


def test_unrelated_session_loads_nothing_heavy(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        "import sys\n\n"
        "def pytest_sessionfinish(session):\n"
        f"    heavy = sorted(m for m in sys.modules if m.split('.')[0] in {list(HEAVY)!r} or m in {list(HEAVY)!r})\n"
        "    print('HEAVY=' + ','.join(heavy))\n"
    )
    pytester.makepyfile("def test_one():\n    assert 1 + 1 == 2\n")
    result = pytester.runpytest_subprocess("-p", "execserver", "-p", "no:cacheprovider", "-p", "no:hypothesispytest",
                                           "-p", "no:benchmark", "-s", timeout=120)
    result.assert_outcomes(passed=1)
    result.stdout.re_match_lines([r".*HEAVY=$"])


OWN_PROVIDER = """
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

async def test_a_harness_test_first(exec_client, exec_scratch):
    result = await exec_client.run(["/bin/echo", "hi"], cwd=exec_scratch)
    assert result.stdout == b"hi\\n"

def test_project_sets_its_own_provider():
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    assert trace.get_tracer_provider() is provider, "the project's set_tracer_provider was refused"
    with trace.get_tracer("project").start_as_current_span("mine"):
        pass
    assert [s.name for s in exporter.get_finished_spans()] == ["mine"]
"""


def test_project_own_tracer_provider_still_works(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(OWN_PROVIDER)
    result = pytester.runpytest_subprocess("-p", "execserver", "-p", "no:cacheprovider", "--execserver-report",
                                           pytester.path / "r.json", timeout=180)
    result.assert_outcomes(passed=2)
    coverage = json.loads((pytester.path / "r.json").read_text())["tests"][0]["coverage"]
    assert coverage["rpc"]["covered_ms"] > 0, "the harness's own spans were lost"


GLOBAL = """
from opentelemetry import trace

async def test_spans_on_the_global_provider(exec_client, exec_scratch):
    await exec_client.run(["/bin/echo", "hi"], cwd=exec_scratch)
    from pytest_execserver.telemetry import otel
    assert trace.get_tracer_provider() is otel._PROVIDER
"""


def test_otel_global_only_when_asked(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(GLOBAL)
    asked = pytester.runpytest_subprocess("-p", "execserver", "-p", "no:cacheprovider", "--execserver-otel-global",
                                          timeout=180)
    asked.assert_outcomes(passed=1)
    not_asked = pytester.runpytest_subprocess("-p", "execserver", "-p", "no:cacheprovider", timeout=180)
    not_asked.assert_outcomes(failed=1)


def test_light_copies_match_their_homes() -> None:
    """The entry module keeps a few names to itself so as not to import their heavy homes; they agree."""
    from pytest_execserver import plugin
    from pytest_execserver.glue import markers
    from pytest_execserver.glue.marknames import MARKERS

    assert plugin.CHAOS_PARAM == markers.CHAOS_PARAM
    assert set(MARKERS) == {"fault", "chaos", "fault_schedule", "exec_mode", "latency_budget", "resource_budget",
                            "load"}
    assert {"exec_fault", "exec_mode", "exec_client"} <= plugin.HARNESS_FIXTURES
