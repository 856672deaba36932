import pytest, time
SCRIPT = "for i in 1 2 3 4 5 6 7 8 9 10; do echo line$i; sleep 0.05; done"
EXPECTED = b"".join(b"line%d\n" % i for i in range(1, 11))

@pytest.mark.exec_mode("both")
@pytest.mark.fault("disconnect", after_ms=200)
async def test_disc(exec_client, exec_history, exec_scratch):
    r = await exec_client.run(["/bin/sh", "-c", SCRIPT], cwd=exec_scratch, timeout=10)
    exec_history.expect_output(r.process_id, stdout=EXPECTED)
    for e in exec_history.events:
        if not e.op.startswith(("wire", "deliver")): print(e.op, e.kind, e.seq, {k: v for k, v in e.data.items() if k != "chunk"})

@pytest.mark.exec_mode("both")
async def test_down(exec_client, exec_proxy, exec_history, exec_scratch):
    h = await exec_client.start(["/bin/sh", "-c", SCRIPT], cwd=exec_scratch)
    time.sleep(0.1)
    with exec_proxy.down():
        time.sleep(0.2)
    r = await h.wait(10)
    exec_history.expect_output(r.process_id, stdout=EXPECTED)
