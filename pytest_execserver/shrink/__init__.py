"""Shrinking a failing fault schedule (``--execserver-shrink``): :mod:`.core` decides, :mod:`.replay` runs.

:mod:`.core` is the search, with no I/O: a deterministic delta-debugging loop over the schedule's faults,
then per-fault simplification, asking a predicate "does this smaller schedule still fail the same way?".
:mod:`.replay` is that predicate: one fresh ``pytest`` subprocess per candidate (so a fresh server and
Toxiproxy), which runs the one test with the candidate schedule in place of its drawn one.
"""
