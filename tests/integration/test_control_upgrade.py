"""
Scenario: docs/DEPLOY.md's "Upgrading a node without downtime", step by
step, while clients write and read, and then the upgraded node dies
(issue 14, item 3). `node drain 3`; node 3 restarts (the upgrade) and
shows as drained; `node join 3 1` streams it the chain and makes it the
tail. From then on node 3 is a member like any other: `nodes` says up, and
when it is killed catena-control fails it within the heartbeat timeout,
the chain goes on without it, no pending join is left behind, and the
clients' histories stay linearizable with nothing given up.
"""

import time

from cluster import ONE_CHAIN
from test_cluster_linearizable import KEYS, summary_line

# The tail's death costs a client the detection (about 0.8 s of silence)
# and the new tail's 200 ms fence (RETRY answers, docs/PROTOCOL.md "Read
# leases"): 14 tries cover both with room; the default 10 is at the edge.
PACE = {"pause": 0.003, "retries": 14}


def members(ctl):
    return [ch["members"] for ch in ctl.ctl_json("chains")]


def test_deploy_upgrade_under_load_then_the_upgraded_node_dies(
        make_control_cluster):
    c = make_control_cluster(chains=ONE_CHAIN, clients=2)
    ctl = c.ctl
    out = {}

    def during(cl):
        time.sleep(1.5)
        # 1. Drain.
        p = ctl.ctl("node", "drain", 3)
        assert p.returncode == 0, (p.stdout, p.stderr)
        ctl.wait_for("node 3 out of chain 1", lambda: members(ctl) == [[1, 2]])
        # 2. Upgrade and restart: it reconnects drained.
        c.kill9(3)
        c.restart(3)
        ctl.wait_for("node 3 back, drained",
                     lambda: ctl.nodes()[3]["connected"] and
                     ctl.nodes()[3]["state"] == "drained", timeout=15)
        # 3. Back into its chain by state transfer.
        p = ctl.ctl("node", "join", 3, 1)
        assert p.returncode == 0, (p.stdout, p.stderr)
        ctl.wait_for("node 3 the tail of chain 1 again",
                     lambda: members(ctl) == [[1, 2, 3]] and
                     "joining" not in ctl.ctl_json("chains")[0], timeout=30)
        out["state"] = ctl.nodes()[3]["state"]
        # The upgraded node dies.
        t = c.kill9(3)
        ctl.wait_for("node 3 failed", lambda: ctl.nodes()[3]["state"] ==
                     "failed", timeout=10)
        out["failed_s"] = time.monotonic() - t
        out["members"] = members(ctl)
        out["chains"] = ctl.ctl_json("chains")

    results = c.histories(KEYS, clients_per_ns=3, duration=12.0, seed=83,
                          max_ops=6000, extra=PACE, during=during)
    print("node 3 after its join: %s; failed %.2f s after kill -9; chains %r"
          % (out.get("state"), out.get("failed_s", -1), out.get("chains")))
    assert out["state"] == "up", out
    # Heartbeat timeout 800 ms in these tests, plus a loop round.
    assert out["failed_s"] < 3.0, out
    assert out["members"] == [[1, 2]], out
    assert "joining" not in out["chains"][0], out
    c.quiesce(nodes=(1, 2), timeout=20)
    s = c.verify(KEYS, results)
    print(summary_line(results, s))
    assert all(r["stats"]["gave_up"] == 0 for r in results), [
        r["stats"] for r in results]
    assert s["unknown"] == 0, s
    v = ctl.ctl_json("verify")
    assert v["differ"] == [], v
