"""The shrink search: from a failing schedule to a smallest one that still fails (no I/O here).

Why delta debugging and not Hypothesis's shrinker: every candidate costs a real run of the test (a fresh
server and proxy, seconds each), so the search must spend few runs, stop at a time budget, and take the same
path every time. Hypothesis shrinks a choice sequence it generated itself, replays through its own runner
(deadlines, health checks, a Flaky error when a failure does not reproduce once) and decides its own order;
here the schedule is given, the runs are few and expensive, and a plain loop whose candidate order is fixed
gives the same answer for the same test. The loop:

0. **no fault at all**: if the test fails with an empty schedule, that is the answer;
1. **drop faults**: ddmin (Zeller) over the list -- try each of ``n`` chunks alone, then each complement;
   keep the first that still fails; refine ``n`` until single faults;
2. **simplify each fault**, to a fixpoint: shorter (``duration_ms``/``pause_ms`` halved),
   milder (latency ``ms``/``jitter`` halved, ``kbps`` doubled, slicer ``delay_us``/``size_variation`` to 0),
   later (``at_ms`` moved half-way to the end of the window), rounder (``at_ms`` down to a multiple of 50).

A candidate is accepted only if the predicate says it still fails (with the same failure signature, decided
by the caller). Each distinct candidate is asked at most once (cached), and the search stops when the
budget says so, keeping the smallest failing schedule seen so far.

3. **confirm**: the result is run ``confirm`` more times; a timing-dependent schedule that failed once by
   luck does not survive this, and the search falls back to the newest accepted schedule that fails again
   (the original, already seen failing twice, is the last resort). What is printed is meant to be pasted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from pytest_execserver.faults.kinds import Fault

Schedule = tuple[Fault, ...]
Predicate = Callable[[Schedule], bool]  # True: this schedule still fails the same way

_ROUND_MS = 50
_MIN_MS = 10  # durations are not halved below this


@dataclass
class ShrinkResult:
    """The outcome: the smallest failing schedule found, and how the search went."""

    original: Schedule
    schedule: Schedule
    runs: int = 0
    out_of_budget: bool = False
    steps: list[str] = field(default_factory=list)  # one line per accepted step
    accepted: list[Schedule] = field(default_factory=list)  # every schedule that still failed, in order
    confirmed: bool = False

    @property
    def shrunk(self) -> bool:
        return self.schedule != self.original


class _Search:
    def __init__(self, still_fails: Predicate, out_of_budget: Callable[[], bool], result: ShrinkResult) -> None:
        self._still_fails = still_fails
        self._out_of_budget = out_of_budget
        self._seen: dict[Schedule, bool] = {}
        self.result = result

    def fails(self, candidate: Schedule) -> bool:
        if candidate in self._seen:
            return self._seen[candidate]
        if self._out_of_budget():
            self.result.out_of_budget = True
            return False
        self.result.runs += 1
        verdict = self._seen[candidate] = self._still_fails(candidate)
        if verdict:
            self.result.accepted.append(candidate)
        return verdict

    def fails_again(self, candidate: Schedule, times: int) -> bool:
        """Run ``candidate`` again, ``times`` times, past the cache: does it fail every time?"""
        for _ in range(times):
            if self._out_of_budget():
                self.result.out_of_budget = True
                return False
            self.result.runs += 1
            if not self._still_fails(candidate):
                return False
        return True

    @property
    def stopped(self) -> bool:
        return self.result.out_of_budget


def _chunks(items: Schedule, n: int) -> list[Schedule]:
    size, extra = divmod(len(items), n)
    out, start = [], 0
    for i in range(n):
        end = start + size + (1 if i < extra else 0)
        out.append(items[start:end])
        start = end
    return out


def _ddmin(search: _Search, schedule: Schedule) -> Schedule:
    n = 2
    while len(schedule) >= 2 and not search.stopped:
        chunks = _chunks(schedule, min(n, len(schedule)))
        for chunk in chunks:  # one chunk alone
            if search.fails(chunk):
                search.result.steps.append(f"kept {len(chunk)} of {len(schedule)} faults")
                schedule, n = chunk, 2
                break
        else:
            for i in range(len(chunks)):  # everything but one chunk
                rest = tuple(f for j, c in enumerate(chunks) if j != i for f in c)
                if len(chunks) > 2 and search.fails(rest):
                    search.result.steps.append(f"dropped {len(chunks[i])} of {len(schedule)} faults")
                    schedule, n = rest, max(n - 1, 2)
                    break
            else:
                if n >= len(schedule):
                    break
                n = min(n * 2, len(schedule))
    return schedule


def simpler(fault: Fault, window_ms: float) -> Iterator[Fault]:
    """Simpler variants of one (timed) fault, in the order they are tried."""
    params = fault.params
    # not hold_ms: a disconnect's cut toxic acts on traffic, so a short hold may see none and cut nothing --
    # a "simpler" cut that fails only when a chunk happens to pass in time is not one to paste
    halvable = ("duration_ms", "pause_ms", "ms", "jitter")
    for name in halvable:
        value = params.get(name)
        if isinstance(value, int | float) and value > (0 if name == "jitter" else _MIN_MS):
            half = int(value // 2) if name == "jitter" else max(_MIN_MS, int(value // 2))
            yield fault.replace(**{name: half})
    if fault.kind == "bandwidth" and params["kbps"] < 1024:
        yield fault.replace(kbps=min(1024, params["kbps"] * 2))
    for name in ("delay_us", "size_variation"):
        if params.get(name):
            yield fault.replace(**{name: 0})
    at = fault.at_ms
    later = at + (window_ms - at) / 2
    if later - at >= _ROUND_MS:
        yield fault.replace(at_ms=int(later // _ROUND_MS * _ROUND_MS))
    rounder = int(at // _ROUND_MS * _ROUND_MS)
    if rounder != at:
        yield fault.replace(at_ms=rounder)


def _simplify(search: _Search, schedule: Schedule, window_ms: float) -> Schedule:
    changed = True
    while changed and not search.stopped:
        changed = False
        for i in range(len(schedule)):
            for variant in simpler(schedule[i], window_ms):
                candidate = (*schedule[:i], variant, *schedule[i + 1:])
                if search.fails(candidate):
                    search.result.steps.append(f"{schedule[i]!r} -> {variant!r}")
                    schedule, changed = candidate, True
                    break
                if search.stopped:
                    return schedule
    return schedule


def shrink(
    schedule: Sequence[Fault],
    still_fails: Predicate,
    *,
    window_ms: float,
    out_of_budget: Callable[[], bool] = lambda: False,
    confirm: int = 1,
) -> ShrinkResult:
    """The smallest schedule (of timed faults) that ``still_fails`` finds, within the budget.

    ``schedule`` is assumed to fail already (the caller checks that it reproduces before searching).
    """
    original = tuple(schedule)
    result = ShrinkResult(original, original)
    search = _Search(still_fails, out_of_budget, result)
    search._seen[original] = True
    if search.fails(()):  # the test fails without any fault of the schedule: the faults are not the cause
        if search.fails_again((), confirm):
            result.steps.append("fails with no fault at all")
            result.schedule, result.confirmed = (), True
            return result
        result.accepted.remove(())
    current = _ddmin(search, original)
    _simplify(search, current, window_ms)
    result.schedule = original
    for candidate in reversed(result.accepted):  # the newest is the smallest
        if search.fails_again(candidate, confirm):
            result.schedule, result.confirmed = candidate, True
            break
        if result.out_of_budget:  # no time left to confirm: report the smallest seen failing once
            result.schedule = result.accepted[-1]
            break
        result.steps.append(f"did not fail again, dropped: {candidate!r}")
    return result
