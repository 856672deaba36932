"""Invariant checks over hand-made histories (no I/O)."""

from __future__ import annotations

import pytest

from pytest_execserver.checks.invariants import (
    INVARIANTS,
    ExecHistory,
    Violation,
    check_all,
    check_byte_exact,
    check_ordered_output,
    check_recovery,
    check_sandbox_denial,
    check_transport_reported,
    format_violations,
)
from tests.plugin.engine.hist import H, clean_run


def messages(vs: list[Violation]) -> str:
    return "\n".join(str(v) for v in vs)


def test_clean_history_passes_everything() -> None:
    h = clean_run()
    results = check_all(h.events)
    assert list(results) == list(INVARIANTS)
    assert all(v == [] for v in results.values()), results
    assert format_violations(results) == ""


def test_empty_history() -> None:
    assert all(v == [] for v in check_all([]).values())


# ------------------------------------------------------------------ ordered_output


def test_duplicate_delivery() -> None:
    h = H().start().out(1, b"a").out(1, b"a", wire=False).exited(2).closed(3).done()
    vs = check_ordered_output(h.events)
    assert any("seq 1 delivered 2 times, expected exactly once" in str(v) for v in vs)
    assert vs[0].process_id == "p1" and vs[0].seq == 1


def test_reordered_delivery() -> None:
    h = H().start().out(2, b"b").out(1, b"a").exited(3).closed(4).done()
    vs = messages(check_ordered_output(h.events))
    assert "process 'p1' (client c1): seq 1 (output) delivered after seq 2, expected increasing seq" in vs
    assert ("server sent stdout seq 1 after stdout seq 2 on the wire (reordered within the stdout stream; "
            "server violation)") in vs


def test_gap_is_violation_unless_typed_failure() -> None:
    h = H().start().out(1, b"a").out(2, b"b", deliver=False).out(3, b"c").exited(4).closed(5).done()
    vs = check_ordered_output(h.events)
    assert [v.seq for v in vs] == [2]
    assert "seq 2 never delivered (output seen on the wire) but later seqs were (gap before seq 3)" in str(vs[0])
    h2 = H().start().out(1, b"a").out(2, b"b", deliver=False).out(3, b"c")
    h2.failed(error="TransportError", message="gap")
    assert check_ordered_output(h2.events) == []


def test_gap_accounted_for_by_exited_seq() -> None:
    # output racing with exited: seq 2 is exited, output 3 comes after it
    h = H().start().out(1, b"a").exited(2).out(3, b"b").closed(4).done()
    assert check_ordered_output(h.events) == []


def test_closed_last_and_after_exited() -> None:
    h = H().start().out(1, b"a").exited(2).closed(3).out(4, b"late").done()
    vs = messages(check_ordered_output(h.events))
    assert "output seq 4 delivered after closed (seq 3), expected closed last" in vs
    assert "server sent output seq 4 after closed (seq 3) on the wire" in vs
    h2 = H().start().out(1, b"a").closed(2).done()
    assert "closed (seq 2) delivered without exited" in messages(check_ordered_output(h2.events))
    h3 = H().start().out(1, b"a").closed(3).exited(2).done()
    assert "exited delivered after closed" in messages(check_ordered_output(h3.events))


def test_exited_overtaken_by_closed_on_the_wire_is_not_a_server_violation() -> None:
    # codex 0.169.0, no fault: output 1, closed 3, exited 2 on the wire; delivered in seq order
    h = H().start().out(1, b"a").closed(3, deliver=False).exited(2).add("info", "deliver:closed", pid="p1", seq=3)
    assert check_ordered_output(h.done().events) == []
    higher = H().start().out(1, b"a").closed(2, deliver=False).exited(3).add("info", "deliver:closed", pid="p1", seq=2)
    violations = messages(check_ordered_output(higher.done().events))
    assert "server sent exited seq 3 after closed (seq 2) on the wire" in violations


def test_lost_closed_after_grace() -> None:
    h = H().start().out(1, b"a").exited(2)
    now = int(h.t_ms * 1e6)
    assert check_ordered_output(h.events, now_ns=now + int(100e6)) == []
    vs = check_ordered_output(h.events, now_ns=now + int(2000e6))
    assert "exited (seq 2) delivered at" in messages(vs) and "closed never delivered" in messages(vs)


def test_wire_duplicate_is_server_violation_even_if_client_dedups() -> None:
    h = H().start().out(1, b"a").out(1, b"a", deliver=False).exited(2).closed(3).done()
    vs = check_ordered_output(h.events)
    assert len(vs) == 1 and "server sent seq 1 twice on the wire (duplicate output; server violation)" in str(vs[0])


def test_wire_replay_after_reconnect_is_fine() -> None:
    h = H().start().out(1, b"a").add("invoke", "reconnect").add("ok", "reconnect")
    h.out(1, b"a", deliver=False).out(2, b"b").exited(3).closed(4).done()
    assert check_ordered_output(h.events) == []


def test_processes_are_separate_per_client() -> None:
    h = H().start("p1").out(1, b"a", "p1")
    h.add("invoke", "process", pid="p1", client="c2")
    h.add("info", "deliver:output", pid="p1", seq=1, stream="stdout", chunk=b"x", client="c2")
    assert check_ordered_output(h.events) == []


# ------------------------------------------------------------------ byte_exact


def test_expected_output_matches() -> None:
    h = clean_run(chunks=(b"hel", b"lo\n"))
    h.add("info", "expect:output", pid="p1", client="test", stdout=b"hello\n")
    assert check_byte_exact(h.events) == []


def test_expected_output_differs() -> None:
    h = clean_run(chunks=(b"hel", b"lX\n"))
    h.add("info", "expect:output", pid="p1", client="test", stdout=b"hello\n", stderr=b"")
    vs = check_byte_exact(h.events)
    assert len(vs) == 1
    assert "process 'p1': delivered stdout differs from the expected output: first difference at byte 4" in str(vs[0])
    assert "2 chunk(s) delivered, seq 1..2" in str(vs[0])


def test_expected_output_skipped_when_failure_reported() -> None:
    h = H().start().out(1, b"he").failed(error="TransportError", message="cut")
    h.add("info", "expect:output", pid="p1", client="test", stdout=b"hello")
    assert check_byte_exact(h.events) == []


def test_expected_output_hex_from_saved_history() -> None:
    h = clean_run(chunks=(b"ab",))
    h.add("info", "expect:output", pid="p1", client="test", stdout=b"ab".hex())
    assert check_byte_exact(h.events) == []


def test_result_must_equal_delivered_chunks() -> None:
    h = H().start().out(1, b"ab").out(2, b"cd").exited(3).closed(4).done(stdout=b"abce", stderr=b"")
    vs = check_byte_exact(h.events)
    assert len(vs) == 1 and "ProcessResult.stdout is not the concatenation of the delivered chunks" in str(vs[0])


def test_exec_history_expect_output() -> None:
    hist = ExecHistory()
    hist.expect_output("p9", stdout=b"x", client="c1")
    (e,) = hist.events
    assert e.op == "expect:output" and e.process_id == "p9" and e.data == {"stdout": b"x", "for_client": "c1"}
    with pytest.raises(TypeError, match="must be bytes"):
        hist.expect_output("p9", stdout="x")  # type: ignore[arg-type]


# ------------------------------------------------------------------ recovery


def test_recovery_only_after_faults() -> None:
    h = H().start().out(1, b"a")
    assert check_recovery(h.events) == []
    h.add("info", "fault", kind="disconnect", mode="reset")
    vs = check_recovery(h.events)
    assert len(vs) == 1
    assert "process 'p1' neither completed nor failed after fault 'disconnect'" in str(vs[0])
    assert "last delivered seq 1" in str(vs[0])


def test_recovery_typed_failure_ok_untyped_not() -> None:
    h = H().add("info", "fault", kind="down").start().failed(error="TransportError", message="refused")
    assert check_recovery(h.events) == []
    h2 = H().add("info", "fault", kind="down").start().failed()
    assert "without a typed error" in messages(check_recovery(h2.events))


def test_recovery_reconnect_must_finish() -> None:
    h = H().add("info", "fault", kind="disconnect").add("invoke", "reconnect")
    assert "reconnect attempt at" in messages(check_recovery(h.events))
    h.add("fail", "reconnect", error="TransportError")
    assert check_recovery(h.events) == []


# ------------------------------------------------------------------ transport_reported


def test_unbounded_wait() -> None:
    h = clean_run().add("invoke", "rpc:process/read", id=7)
    vs = check_transport_reported(h.events, now_ns=int((h.t_ms + 5000) * 1e6))
    assert len(vs) == 1 and "rpc:process/read id=7 (client c1) invoked at" in str(vs[0])
    assert "never got ok/fail/info: unbounded wait" in str(vs[0])
    h.add("info", "rpc:process/read", id=7, reason="transport dropped")
    assert check_transport_reported(h.events) == []


def test_pending_process_is_unbounded_wait_without_fault() -> None:
    h = H().start().out(1, b"a")
    assert "process 'p1' started at" in messages(check_transport_reported(h.events))


def test_success_with_missing_bytes() -> None:
    h = H().start().out(1, b"a").out(2, b"bb", deliver=False).exited(3).closed(4).done()
    vs = check_transport_reported(h.events)
    assert len(vs) == 1
    assert "process 'p1' reported success but output seq 2 (2 bytes) seen on the wire was never delivered" in str(vs[0])


def test_transport_error_needs_message() -> None:
    h = clean_run().add("info", "transport_error", message="")
    assert "carries no message" in messages(check_transport_reported(h.events))


# ------------------------------------------------------------------ sandbox_denial


def test_sandbox_denial_carried() -> None:
    h = H().start().exited(1, denied=True).closed(2).done(sandbox_denied=True)
    assert check_sandbox_denial(h.events) == []
    absent = H().start().exited(1).closed(2).done()
    assert check_sandbox_denial(absent.events) == []


def test_sandbox_denial_lost_or_invented() -> None:
    h = H().start()
    h.add("info", "wire:process/exited", pid="p1", seq=1, sandbox_denied=True)
    h.add("info", "deliver:exited", pid="p1", seq=1, sandbox_denied=None).closed(2).done()
    vs = check_sandbox_denial(h.events)
    assert len(vs) == 1
    assert ("process 'p1': sandboxDenied=True on the wire (seq 1) but the delivered exited says "
            "sandbox_denied=None, expected True") in str(vs[0])
    h2 = H().start()
    h2.add("info", "wire:process/exited", pid="p1", seq=1)
    h2.add("info", "deliver:exited", pid="p1", seq=1, sandbox_denied=None).closed(2).done(sandbox_denied=False)
    assert "no sandboxDenied on the wire" in messages(check_sandbox_denial(h2.events))


def test_violation_json() -> None:
    v = Violation("byte_exact", "m", "p1", 3, "c1")
    assert v.to_json() == {"invariant": "byte_exact", "message": "m", "process_id": "p1", "seq": 3,
                           "client": "c1"}
    assert str(v) == "[byte_exact] m"


def test_wire_hole_never_filled() -> None:
    h = H().start().out(1, b"a").out(3, b"c").failed(error="RecoveryError", message="not retained")
    vs = check_ordered_output(h.events)
    assert len(vs) == 1
    assert "server skipped seq 2 on the wire (seq 3 followed seq 1) and it was never delivered" in str(vs[0])


def test_wire_hole_filled_by_recovery_is_fine() -> None:
    h = H().start().out(1, b"a").out(3, b"c", deliver=False)
    h.add("info", "deliver:output", pid="p1", seq=2, stream="stdout", chunk=b"b")
    h.add("info", "deliver:output", pid="p1", seq=3, stream="stdout", chunk=b"c")
    h.exited(4).closed(5).done()
    assert check_ordered_output(h.events) == []


def test_young_pending_rpc_is_in_flight() -> None:
    h = clean_run().add("invoke", "rpc:process/read", id=7)
    assert check_transport_reported(h.events, now_ns=int((h.t_ms + 10) * 1e6)) == []


# ------------------------------------------------------------------ wire order (per stream)


def test_cross_stream_wire_order_is_allowed() -> None:
    """codex 0.169.0: the stderr chunk with seq 2 arrives before the stdout chunk with seq 1."""
    h = H().start()
    h.out(2, b"err\n", stream="stderr", deliver=False).out(1, b"a\n")
    h.add("info", "deliver:output", pid="p1", seq=2, stream="stderr", chunk=b"err\n")
    h.out(3, b"b\n").exited(4).closed(5).done()
    assert check_ordered_output(h.events) == []


def test_exited_before_lower_seq_output_is_allowed() -> None:
    """codex 0.169.0: exited (seq 3) on the wire before the output with seq 2."""
    h = H().start().out(1, b"a")
    h.exited(3, deliver=False).out(2, b"b")
    h.add("info", "deliver:exited", pid="p1", seq=3, code=0, sandbox_denied=None).closed(4).done()
    assert check_ordered_output(h.events) == []


def test_same_stream_wire_reorder_is_a_violation() -> None:
    h = H().start().out(1, b"a").out(3, b"c", stream="stderr", deliver=False).out(2, b"b", stream="stderr")
    h.add("info", "deliver:output", pid="p1", seq=3, stream="stderr", chunk=b"c")
    h.exited(4).closed(5).done()
    vs = check_ordered_output(h.events)
    assert len(vs) == 1 and vs[0].seq == 2
    assert ("server sent stderr seq 2 after stderr seq 3 on the wire (reordered within the stderr stream; "
            "server violation)") in str(vs[0])


def test_wire_duplicate_across_streams_is_a_violation() -> None:
    h = H().start().out(1, b"a").out(1, b"a", stream="stderr", deliver=False).exited(2).closed(3).done()
    assert "server sent seq 1 twice on the wire (duplicate output" in messages(check_ordered_output(h.events))


def test_closed_must_carry_the_highest_seq() -> None:
    h = H().start().out(1, b"a").out(3, b"b", stream="stderr", deliver=False).closed(2, deliver=False)
    h.add("info", "deliver:output", pid="p1", seq=3, stream="stderr", chunk=b"b")
    h.exited(4, wire=False).done()
    vs = messages(check_ordered_output(h.events))
    assert ("server sent closed with seq 2 but output seq 3 came before it on the wire, expected closed to "
            "carry the highest seq (server violation)") in vs
    late = H().start().out(1, b"a").exited(2).closed(3).out(4, b"z", stream="stderr", deliver=False).done()
    assert "server sent output seq 4 after closed (seq 3) on the wire" in messages(check_ordered_output(late.events))
