"""Our client's chaos matrix, run from the package (``pytest_execserver.suites.chaos.ours``): no second copy.

The matrix for any client (``exec_subject``) runs through ``tests/subjects/test_chaos_suite.py``.
"""

from pytest_execserver.suites.chaos.ours.chaos_kit import chaos
from pytest_execserver.suites.chaos.ours.test_bandwidth_slicer import test_bandwidth, test_slicer
from pytest_execserver.suites.chaos.ours.test_disconnect import pytestmark, test_cut_mid_stream_recovers
from pytest_execserver.suites.chaos.ours.test_down import (
    test_outage_with_context_manager,
    test_permanent_outage_fails_typed_and_bounded,
    test_short_outage_recovers,
)
from pytest_execserver.suites.chaos.ours.test_latency import test_latency
from pytest_execserver.suites.chaos.ours.test_receiver_lag import test_receiver_lag
from pytest_execserver.suites.chaos.ours.test_sandbox_denial import (
    test_sandbox_denial_reaches_the_result_under_each_fault,
)
from pytest_execserver.suites.chaos.ours.test_schedules import test_seeded_schedule

__all__ = [
    "chaos", "pytestmark", "test_bandwidth", "test_cut_mid_stream_recovers", "test_latency",
    "test_outage_with_context_manager", "test_permanent_outage_fails_typed_and_bounded", "test_receiver_lag",
    "test_sandbox_denial_reaches_the_result_under_each_fault",
    "test_seeded_schedule", "test_short_outage_recovers", "test_slicer",
]
