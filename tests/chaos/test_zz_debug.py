import pytest
from chaos_kit import paced_workload, start_workload
STREAM = paced_workload(40, per_batch=150, sleep_s=0.025)

@pytest.mark.exec_mode("event-stream")
@pytest.mark.fault("disconnect", mode="timeout", after_ms=300)
async def test_dbg(exec_client, exec_history, exec_scratch, exec_proxy):
    h = await start_workload(exec_client, exec_history, STREAM, exec_scratch)
    await h.wait(20)
    t0 = exec_history.events[0].time_ns
    for e in exec_history.events:
        if e.op.startswith("deliver"): continue
        if e.op.startswith("wire") : continue
        print(f"{(e.time_ns-t0)/1e6:8.1f}", e.kind, e.op, e.seq, {k: v for k, v in e.data.items() if k != "chunk"})
    w = [ (e.time_ns-t0)/1e6 for e in exec_history.events if e.op.startswith("wire")]
    print("wire first/last", w[0], w[-1], len(w))
