"""The shrink search alone (:mod:`pytest_execserver.shrink.core`), with a predicate standing in for the runs.

The predicate is a rule over the schedule ("fails iff a disconnect is at or before 1000 ms"), so the search's
order, cache and budget can be checked exactly and fast; the live test (test_shrink_live.py) runs it on a
real server bug.
"""

from __future__ import annotations

from pytest_execserver.faults.kinds import Fault
from pytest_execserver.faults.schedule import as_timed
from pytest_execserver.shrink.core import Schedule, shrink, simpler
from tests.forensics import demo

EIGHT: Schedule = tuple(as_timed(s) for s in demo.drawn_schedule())


class Rule:
    """Fails iff the schedule holds a disconnect at or before ``until_ms``; counts and records each ask."""

    def __init__(self, until_ms: float = 1000) -> None:
        self.until_ms = until_ms
        self.asked: list[Schedule] = []

    def __call__(self, schedule: Schedule) -> bool:
        self.asked.append(schedule)
        return any(f.kind == "disconnect" and f.at_ms <= self.until_ms for f in schedule)


def test_eight_faults_shrink_to_the_one_disconnect() -> None:
    result = shrink(EIGHT, Rule(), window_ms=demo.WINDOW_MS)
    assert [f.kind for f in result.schedule] == ["disconnect"]
    (cut,) = result.schedule
    assert cut.at_ms <= 1000 and cut.at_ms % 50 == 0  # moved later while it still failed, then rounded
    assert cut["hold_ms"] == 150  # a cut's hold is not shortened (a short one may see no traffic to cut)
    assert result.shrunk and not result.out_of_budget


def test_same_input_same_path_and_result() -> None:
    first, second = Rule(), Rule()
    a = shrink(EIGHT, first, window_ms=demo.WINDOW_MS)
    b = shrink(EIGHT, second, window_ms=demo.WINDOW_MS)
    assert a.schedule == b.schedule and a.steps == b.steps and first.asked == second.asked


def test_only_the_result_is_run_twice_and_dropping_is_cheap() -> None:
    rule = Rule()
    result = shrink(EIGHT, rule, window_ms=demo.WINDOW_MS)
    assert len(rule.asked) == result.runs == len(set(rule.asked)) + 1
    assert rule.asked[-1] == result.schedule and rule.asked.count(result.schedule) == 2  # confirmed
    assert result.confirmed
    drops = [s for s in rule.asked if len(s) > 1 or not s]
    assert len(drops) <= 6  # empty, then halving: ~2 log2(8) runs to isolate one fault of eight


def test_a_failure_without_faults_shrinks_to_the_empty_schedule() -> None:
    result = shrink(EIGHT, lambda s: True, window_ms=demo.WINDOW_MS)
    assert result.schedule == () and result.runs == 2 and result.confirmed


def test_out_of_budget_keeps_the_smallest_failing_schedule_so_far() -> None:
    rule = Rule()
    result = shrink(EIGHT, rule, window_ms=demo.WINDOW_MS, out_of_budget=lambda: len(rule.asked) >= 3)
    assert result.out_of_budget and len(rule.asked) == 3 and not result.confirmed
    assert rule(result.schedule) and 1 <= len(result.schedule) < len(EIGHT)


def test_a_result_that_does_not_fail_again_falls_back_to_one_that_does() -> None:
    """A timing-dependent candidate fails once by luck: the confirmation run catches it."""
    lucky: set[Schedule] = set()

    def flaky(schedule: Schedule) -> bool:
        if not Rule()(schedule):
            return False
        (cut, *_) = [f for f in schedule if f.kind == "disconnect"]
        if cut.at_ms % 50 == 0:  # a rounded time fails only the first time it is tried
            if schedule in lucky:
                return False
            lucky.add(schedule)
        return True

    result = shrink(EIGHT, flaky, window_ms=demo.WINDOW_MS)
    assert result.confirmed and [f.kind for f in result.schedule] == ["disconnect"]
    assert result.schedule[0].at_ms % 50 != 0 and flaky(result.schedule)
    assert any(step.startswith("did not fail again") for step in result.steps)


def test_two_needed_faults_are_both_kept() -> None:
    def both(schedule: Schedule) -> bool:
        return {"latency", "disconnect"} <= {f.kind for f in schedule}

    result = shrink(EIGHT, both, window_ms=demo.WINDOW_MS)
    assert sorted(f.kind for f in result.schedule) == ["disconnect", "latency"]


def test_simpler_variants_are_milder_shorter_later_or_rounder() -> None:
    lat = Fault("latency", ms=120, jitter=40, at_ms=333, duration_ms=90)
    variants = list(simpler(lat, 1600))
    assert Fault("latency", ms=120, jitter=40, at_ms=333, duration_ms=45) in variants
    assert Fault("latency", ms=60, jitter=40, at_ms=333, duration_ms=90) in variants
    assert Fault("latency", ms=120, jitter=20, at_ms=333, duration_ms=90) in variants
    assert Fault("latency", ms=120, jitter=40, at_ms=950, duration_ms=90) in variants  # half-way to the end
    assert Fault("latency", ms=120, jitter=40, at_ms=300, duration_ms=90) in variants  # rounder
    bw = Fault("bandwidth", kbps=64, at_ms=0, duration_ms=10)
    assert Fault("bandwidth", kbps=128, at_ms=0, duration_ms=10) in list(simpler(bw, 1600))
    assert list(simpler(Fault("down", at_ms=1600, duration_ms=10), 1600)) == []  # nothing simpler left
