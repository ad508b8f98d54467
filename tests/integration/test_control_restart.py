"""
Scenario: catena-control is restarted (SIGTERM, exit 0, started again on
the same state_dir) while clients keep writing and reading. Beforehand a
drain moved the map to epoch 2, so a control plane that forgot its store
and fell back to initial_map would show epoch 1. Afterwards: the same
epoch, map and epoch history (catenactl status / chains / epoch history
before and after), the drained node still drained, every node reconnected
at that epoch (without a map being republished or rejected), and the nodes
served throughout: clients completed operations while the control plane
was away, none gave up, histories linearizable, replicas equal.
"""

import time

from cluster import THREE_CHAINS
from test_cluster_linearizable import KEYS, summary_line

PACE = {"pause": 0.003}


def snapshot(ctl):
    st = ctl.ctl_json("status")
    return {"epoch": st["epoch"], "nodes_total": st["nodes_total"],
            "chains": [(ch["id"], ch["members"], ch["slots"])
                       for ch in ctl.ctl_json("chains")],
            "slots": [(s["slot"], s["chain"], s["members"])
                      for s in ctl.ctl_json("slots")["slots"]],
            "history": ctl.ctl_json("epoch", "history")}


def test_control_restart_keeps_epoch_and_map_nodes_reconnect_writes_never_stop(
        make_control_cluster):
    c = make_control_cluster(chains=THREE_CHAINS, clients=2)
    ctl = c.ctl
    p = ctl.ctl("node", "drain", 3)
    assert p.returncode == 0, (p.stdout, p.stderr)
    ctl.wait_applied(2, (1, 2), timeout=10)
    ctl.wait_for("node 3 at epoch 2", lambda: ctl.nodes()[3]["epoch"] == 2)
    before = snapshot(ctl)
    assert before["epoch"] == 2, before
    assert [m for _, m, _ in before["chains"]] == [[1, 2], [2, 1], [1, 2]]
    tel = {i: c.nodes[i].telemetry("/catena/control")["/catena/control"]
           for i in (1, 2, 3)}
    times = {}

    def during(cl):
        time.sleep(1.0 + 1.0)
        times["stop"] = time.monotonic()
        rc = ctl.stop()
        assert rc == 0, "catena-control exit %s on SIGTERM:\n%s" % (
            rc, ctl.stderr()[-2000:])
        time.sleep(1.2)                  # the nodes are on their own
        times["start"] = time.monotonic()
        ctl.start()
        times["ready"] = time.monotonic()
        # The nodes reconnect (backoff <= 2 s) at epoch 2: nothing to push.
        times["nodes"] = ctl.wait_for(
            "every node reconnected at epoch 2", back, timeout=6,
            period=0.02)
        times["back"] = time.monotonic()

    def back():
        t = ctl.nodes()
        return t if all(t[i]["connected"] and t[i]["epoch"] == 2
                        for i in (1, 2, 3)) else None

    results = c.histories(KEYS, clients_per_ns=3, duration=5.5, seed=71,
                          max_ops=4000, extra=PACE, during=during)

    t = times["nodes"]
    reconnect_ms = (times["back"] - times["ready"]) * 1000
    assert [t[i]["state"] for i in (1, 2, 3)] == ["up", "up", "drained"], t
    after = snapshot(ctl)
    assert after == before, "state changed across the restart:\n%r\n%r" % (
        before, after)
    p = ctl.ctl("status")
    assert p.returncode == 0 and "2 up / 3 total" in p.stdout, p.stdout
    for i in (1, 2, 3):
        tc = c.nodes[i].telemetry("/catena/control")["/catena/control"]
        assert int(tc["reconnects"]) > int(tel[i]["reconnects"]), tc
        assert int(tc["maps_published"]) == int(tel[i]["maps_published"])
        assert int(tc["maps_rejected"]) == 0, tc
        assert int(c.stats(i)["epoch"]) == 2

    # The nodes served while catena-control was away.
    t0, t1 = int(times["stop"] * 1e9), int(times["start"] * 1e9)
    served = [o for r in results for o in r["history"]
              if o["call"] >= t0 and o["ret"] is not None and o["ret"] <= t1
              and o["out"] != "unknown"]
    print("control plane away %.0f ms: %d client ops completed meanwhile; "
          "nodes back %.0f ms after it was ready"
          % ((times["start"] - times["stop"]) * 1000, len(served),
             reconnect_ms))
    assert len(served) > 50, "clients stalled while the control plane was away"
    assert all(r["stats"]["gave_up"] == 0 for r in results), [
        r["stats"] for r in results]
    c.quiesce(nodes=(1, 2), timeout=20)
    c.adopt_map(1)
    c.check_replicas(nodes=(1, 2))
    s = c.verify(KEYS, results)
    assert s["unknown"] == 0, s
    print(summary_line(results, s))
    v = ctl.ctl_json("verify")
    assert v["differ"] == [], v["differ"][:5]
    assert ctl.ctl_json("status")["epoch"] == 2


def test_node_restarted_while_control_plane_was_down_is_caught_by_boot_id(
        make_control_cluster):
    """catena-control stores each node's boot id: the tail restarted (empty)
    while catena-control was down is taken out of its chain when both are
    back, instead of serving as a tail without the data, and rejoins by
    state transfer."""
    from cluster import ONE_CHAIN
    c = make_control_cluster(chains=ONE_CHAIN, clients=1)
    ctl = c.ctl
    for i in range(20):
        r = c.cli("put", "k%d" % i, "v%d" % i)
        assert r.returncode == 0, r.stderr
    assert ctl.stop() == 0
    c.kill9(3)
    c.restart(3)               # a new process: an empty store
    ctl.start()
    ctl.wait_for("node 3 taken out as restarted",
                 lambda: "restarted (a new process" in ctl.stderr(
                     all_runs=True), timeout=10)
    chains = ctl.ctl_json("chains")
    assert chains[0]["members"][:2] == [1, 2], chains

    def back():
        ch = ctl.ctl_json("chains")[0]
        return ch["members"] == [1, 2, 3] and "joining" not in ch
    ctl.wait_for("node 3 back as tail", back, timeout=30)
    for i in range(20):
        r = c.cli("get", "k%d" % i, host=c.ip(3))
        assert r.returncode == 0 and "v%d" % i in r.stdout, (
            i, r.stdout, r.stderr)
