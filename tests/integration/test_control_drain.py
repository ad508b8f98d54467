"""
Scenario: `catenactl node drain 2` takes the middle node of the chain
1 -> 2 -> 3 out while clients write and read: a planned removal. One new
epoch (chain 1 -> 3, reason naming the drain), node 2 `drained` but still
connected and at the new epoch (in no chain: it answers MOVED), nothing
lost, histories linearizable, the remaining replicas equal (digests and
catenactl verify). Draining it again, or draining the last member of a
chain, is refused without a new epoch.
"""

import time

from cluster import ONE_CHAIN
from test_cluster_linearizable import KEYS, summary_line

PACE = {"pause": 0.003}


def test_drain_middle_under_load_planned_removal_nothing_lost(
        make_control_cluster):
    c = make_control_cluster(chains=ONE_CHAIN, clients=2)
    ctl = c.ctl
    out = {}

    def during(cl):
        time.sleep(1.0 + 1.5)
        t = time.monotonic()
        out["drain"] = ctl.ctl("node", "drain", 2)
        out["applied"] = ctl.wait_applied(2, (1, 3), timeout=5)
        out["ms"] = (time.monotonic() - t) * 1000

    results = c.histories(KEYS, clients_per_ns=3, duration=5.0, seed=81,
                          max_ops=4000, extra=PACE, during=during)
    p = out["drain"]
    assert p.returncode == 0, (p.stdout, p.stderr)
    print("drain: `catenactl node drain 2` said %r; epoch 2 applied by 1 "
          "and 3 after %.0f ms" % (p.stdout.strip()[:200], out["ms"]))

    nodes = {n["id"]: n for n in ctl.ctl_json("nodes")}
    assert nodes[2]["state"] == "drained" and nodes[2]["connected"], nodes[2]
    assert nodes[2]["chains"] == [], nodes[2]
    ctl.wait_for("node 2 at epoch 2", lambda: ctl.nodes()[2]["epoch"] == 2)
    assert [ch["members"] for ch in ctl.ctl_json("chains")] == [[1, 3]]
    hist = ctl.ctl_json("epoch", "history")["history"]
    assert [h["epoch"] for h in hist] == [1, 2], hist
    assert "drain" in hist[1]["reason"] and "2" in hist[1]["reason"], hist
    ch = c.chains_of(2)
    assert int(ch["epoch"]) == 2 and ch["1"]["role"] == "none", ch

    c.quiesce(timeout=20)
    c.adopt_map(1)
    assert c.chains == [[1, 3]], c.map.text
    c.check_replicas(nodes=(1, 3))
    s = c.verify(KEYS, results)
    print(summary_line(results, s))
    assert all(r["stats"]["gave_up"] == 0 for r in results), [
        r["stats"] for r in results]
    assert s["unknown"] == 0, s
    v = ctl.ctl_json("verify")
    assert v["differ"] == [] and sorted(v["nodes"]) == [1, 3], v

    # Refusals change nothing.
    again = ctl.request({"cmd": "node_drain", "node": 2})
    assert again["ok"] is False, again
    ctl.request({"cmd": "node_drain", "node": 3})     # chain 1 -> 2 left
    last = ctl.request({"cmd": "node_drain", "node": 1})
    assert last["ok"] is False and "error" in last, last
    st = ctl.ctl_json("status")
    assert st["epoch"] <= 3, st
    print("drain again: %r; drain of the last member: %r" % (again, last))


def test_undrain_lets_a_drained_node_hold_chains_again(make_control_cluster):
    """`node undrain` ends a drain without a join: the node is up again and,
    with restore_replicas on (the default), the chain it left takes it back
    by state transfer. A node that is not drained is refused."""
    c = make_control_cluster(chains=ONE_CHAIN, clients=1)
    ctl = c.ctl

    def state(i):
        return {n["id"]: n["state"] for n in ctl.ctl_json("nodes")}[i]

    def chain1():
        return ctl.ctl_json("chains")[0]

    p = ctl.ctl("node", "drain", 3)
    assert p.returncode == 0, (p.stdout, p.stderr)
    ctl.wait_for("node 3 out of chain 1",
                 lambda: chain1()["members"] == [1, 2])
    assert state(3) == "drained"
    time.sleep(0.5)                 # a drained node is not taken back
    assert chain1()["members"] == [1, 2] and "joining" not in chain1()

    p = ctl.ctl("node", "undrain", 3)
    assert p.returncode == 0, (p.stdout, p.stderr)
    assert state(3) == "up"
    ctl.wait_for("node 3 back in chain 1",
                 lambda: chain1()["members"] == [1, 2, 3] and
                 "joining" not in chain1(), timeout=30)

    p = ctl.ctl("node", "undrain", 3)
    assert p.returncode != 0 and "not drained" in p.stdout + p.stderr, \
        (p.returncode, p.stdout, p.stderr)
