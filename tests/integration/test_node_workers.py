"""
Scenario: a node with two worker lcores and two rx/tx queues. Slot s is
owned by worker s % 2; a request that lands on the other worker's queue
crosses the handover ring. Writes to slots of both owners, from several
source ports (so both queues receive traffic), all succeed and read back
the same from any socket. Fewer queues than workers is refused at start.
"""

import time


def test_two_workers_serve_writes_for_slots_of_either_owner(harness):
    harness.setup(clients=1)
    node = harness.start_node(workers=2)
    assert node.ready["workers"] == "2", node.ready
    res = harness.workload({"mode": "fill", "n": 3000, "prefix": "w2",
                            "clients": 6, "window": 8})
    assert res["statuses"] == {"PUT OK": 3000, "GET OK": 3000}, res["statuses"]
    assert res["mismatches"] == [], res["mismatches"]
    owners = {int(s) % 2 for s in res["slots_written"]}
    assert owners == {0, 1}, "the workload must touch slots of both workers"

    tel = node.telemetry("/catena/lcores", "/catena/stats")
    lcores = tel["/catena/lcores"]
    workers = list(lcores.values()) if isinstance(lcores, dict) else lcores
    workers = [w for w in workers if isinstance(w, dict)]
    assert len(workers) == 2, lcores
    print("lcores: %r" % lcores)
    # Requests that arrived on the non-owner's queue crossed the ring.
    assert sum(int(w["handover_sent"]) for w in workers) > 0, lcores
    assert (sum(int(w["handover_sent"]) for w in workers) ==
            sum(int(w["handover_received"]) for w in workers)), lcores
    stats = tel["/catena/stats"]
    assert int(stats.get("handover_ring_full", 0)) == 0, stats


def test_two_workers_agree_on_read_modify_write(harness):
    # INCRs on keys of both owners from several sockets; every INCR applied
    # exactly once, whichever queue it arrived on.
    harness.setup(clients=1)
    harness.start_node(workers=2)
    keys = ["ctr-%d" % i for i in range(8)]
    ops = [{"op": "incr", "key": k, "arg": 1} for _ in range(25) for k in keys]
    procs = [harness.workload_start({"mode": "ops", "ops": ops}) for _ in range(3)]
    for p in procs:
        res = harness.workload_wait(p)
        assert all(r.get("status_name") == "OK" for r in res["results"]), \
            [r for r in res["results"] if r.get("status_name") != "OK"][:5]
        assert res["resends"] == 0, "re-sent INCRs make the count ambiguous"
    final = harness.ops([{"op": "get", "key": k} for k in keys])
    assert [r["value_text"] for r in final] == ["75"] * len(keys), final


def test_fewer_queues_than_workers_is_refused(harness):
    harness.setup(clients=1)
    node = harness.start_node(workers=2, wait_ready=False, qpairs=1)
    deadline = time.monotonic() + 20
    while node.proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    rc = node.stop()
    assert rc == 1, "want exit 1, got %s\nstderr:\n%s" % (rc, node.stderr()[-2000:])
    assert "ready" not in node.stdout()
    assert "queue" in node.stderr().lower(), node.stderr()[-2000:]
