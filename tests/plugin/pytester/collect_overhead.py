"""What installing the plugin costs an unrelated project: ``python -m tests.plugin.pytester.collect_overhead [N]``.

Runs ``pytest --collect-only -q`` on a fresh one-test project N times (default 21) with the plugin
autoloaded and N times with ``-p no:execserver``, interleaved (so machine load hits both alike), and prints
the median wall time and CPU time (user + system, which a busy machine disturbs less) of each and their
differences (goal: under 50 ms).
"""

from __future__ import annotations

import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _cpu_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(runs: int = 21) -> dict[str, tuple[float, float]]:
    """``{"wall"|"cpu": (median ms with the plugin, median ms with -p no:execserver)}``."""
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp)
        (project / "test_one.py").write_text("def test_one():\n    assert 1 + 1 == 2\n")
        base = [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"]
        wall: dict[bool, list[float]] = {True: [], False: []}
        cpu: dict[bool, list[float]] = {True: [], False: []}
        for i in range(runs * 2 + 2):
            with_plugin = i % 2 == 0
            argv = base if with_plugin else [*base, "-p", "no:execserver"]
            start, start_cpu = time.perf_counter(), _cpu_children()
            subprocess.run(argv, cwd=project, check=True, capture_output=True)
            if i >= 2:  # the first pair warms the file cache
                wall[with_plugin].append((time.perf_counter() - start) * 1000)
                cpu[with_plugin].append((_cpu_children() - start_cpu) * 1000)
    return {name: (statistics.median(t[True]), statistics.median(t[False])) for name, t in
            (("wall", wall), ("cpu", cpu))}


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 21
    results = measure(runs)
    print(f"pytest --collect-only, one-test project, median of {runs} runs each (ms):")
    print(f"{'':10}{'plugin':>10}{'-p no:execserver':>18}{'difference':>12}")
    for name, (with_plugin, without) in results.items():
        print(f"{name:10}{with_plugin:10.1f}{without:18.1f}{with_plugin - without:12.1f}")


if __name__ == "__main__":
    main()
