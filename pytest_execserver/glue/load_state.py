"""Session-wide load results: each process's runs, shipped from xdist workers and merged on the controller.

Light (pytest only at import): the plugin module's hooks use it. A run is kept as ``LoadResult.to_dict()``
(counts plus the HdrHistograms, encoded), so the controller's merge is exact over every operation of every
worker, not an average of per-worker percentiles.
"""

from __future__ import annotations

from typing import Any

import pytest

# group -> the runs of that group in this process (on the controller: every worker's too)
LOAD_PARTS_KEY: pytest.StashKey[dict[str, list[dict[str, Any]]]] = pytest.StashKey()
WORKEROUTPUT_KEY = "execserver_load"


def parts(config: pytest.Config) -> dict[str, list[dict[str, Any]]]:
    if LOAD_PARTS_KEY not in config.stash:
        config.stash[LOAD_PARTS_KEY] = {}
    return config.stash[LOAD_PARTS_KEY]


def add_part(config: pytest.Config, group: str, part: dict[str, Any]) -> None:
    parts(config).setdefault(group, []).append(part)


def add_worker_output(config: pytest.Config, shipped: Any) -> None:
    """On the controller: a worker's ``workeroutput`` entry (group -> runs) added to this session's."""
    if isinstance(shipped, dict):
        for group, runs in shipped.items():
            for run in runs if isinstance(runs, list) else ():
                if isinstance(run, dict):
                    add_part(config, str(group), run)


def merged(config: pytest.Config) -> dict[str, dict[str, Any]]:
    """group -> the merged run (``LoadResult.to_dict()`` plus ``runs``, ``workers`` and ``summary``)."""
    found = config.stash.get(LOAD_PARTS_KEY, {})
    if not found:
        return {}
    from pytest_execserver.load.result import LoadResult

    out: dict[str, dict[str, Any]] = {}
    for group, runs in sorted(found.items()):
        result = LoadResult.merge(LoadResult.from_dict(r) for r in runs)
        workers = sorted({str(r.get("worker", "main")) for r in runs})
        out[group] = {"runs": len(runs), "workers": workers, "summary": result.summary(), **result.to_dict()}
    return out


def summary_lines(merged_runs: dict[str, dict[str, Any]]) -> list[str]:
    """One terminal line per load group."""
    return [f"load {group}: merged {m['runs']} run(s) on {', '.join(m['workers'])}: {m['summary']}"
            for group, m in merged_runs.items()]


# a picture of load curves written during this session (the curves benchmark notes it), for the HTML report
CURVES_KEY: pytest.StashKey[str] = pytest.StashKey()


def note_curves(config: pytest.Config, path: object) -> None:
    """A load run wrote a curves picture at ``path``: the JSON report's header (and its HTML page) link it."""
    config.stash[CURVES_KEY] = str(path)


def report_header(config: pytest.Config, session: object = None) -> dict[str, Any]:
    """What the load glue adds to the JSON report's header: ``load`` (merged per group), ``load_curves``."""
    out: dict[str, Any] = {}
    found = merged(config)
    if found:
        out["load"] = found
    if CURVES_KEY in config.stash:
        out["load_curves"] = config.stash[CURVES_KEY]
    return out
