"""First use: the README's first example runs as written in a fresh project (issue 15, finding 1).

No ini file, so pytest-asyncio is in its default strict mode and nothing in the project marks coroutine
tests; the plugin marks those that use a harness fixture. Each run is a fresh subprocess with plugin
autoloading on, as a new user's ``pytest`` would be.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[3] / "README.md"


def readme_examples() -> list[str]:
    """The ``python`` blocks of the README's section "A test, with a fault"."""
    text = README.read_text()
    section = text[text.index("## A test, with a fault"):]
    section = section[:section.index("\n## ")]
    examples = re.findall(r"```python\n(.*?)```", section, re.S)
    assert examples, "no python example in the README section 'A test, with a fault'"
    return examples


def fresh(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    """``pytest`` in pytester's directory, no ini, autoloaded plugins (as a new user runs it)."""
    assert not any(pytester.path.glob("*.ini")) and not (pytester.path / "pyproject.toml").exists()
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", "-v", *args, timeout=180)


def test_readme_first_example_runs_as_written(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_readme=readme_examples()[0])
    result = fresh(pytester)
    assert "not natively supported" not in result.stdout.str()
    result.assert_outcomes(passed=2)  # exec_mode("event-stream", "legacy-read") parametrizes it


def test_readme_chaos_example_runs_once_per_fault(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_readme=readme_examples()[1])
    result = fresh(pytester)
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines_random(["*[[]latency[]] PASSED*", "*[[]disconnect[]] PASSED*", "*[[]slicer[]] PASSED*"])


def test_strict_mode_marks_only_harness_coroutines(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        import pytest

        @pytest.fixture
        def my_history(exec_history):  # a project fixture on top of a harness fixture
            return exec_history
        """
    )
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        async def test_direct(exec_history):
            await asyncio.sleep(0)
            assert asyncio.get_running_loop() is not None

        async def test_through_project_fixture(my_history):
            await asyncio.sleep(0)

        async def test_unrelated():  # not ours to mark: strict mode fails it, as without us
            pass

        @pytest.mark.asyncio(loop_scope="module")
        async def test_own_mark_kept(exec_mode, request):
            assert request.node.get_closest_marker("asyncio").kwargs == {"loop_scope": "module"}
        """
    )
    result = fresh(pytester, "-o", "asyncio_mode=strict")
    result.stdout.fnmatch_lines_random([
        "*::test_direct PASSED*", "*::test_through_project_fixture PASSED*", "*::test_unrelated FAILED*",
        "*::test_own_mark_kept PASSED*",
    ])
    result.stdout.fnmatch_lines(["*async def functions are not natively supported*"])  # test_unrelated
