"""
Scenario: a replica that holds data its chain does not (issue 13, item 3).
On one chain 1 -> 2 -> 3 under catena-control, node 2 alters the value of
every put it forwards to node 3 ([faults] corrupt_fwd_to, a test-only
hook): node 3, the tail, stores and serves values nobody wrote, at the
same versions as nodes 1 and 2. The background verify (verify_interval_s
= 1) must find it and say so (event, `repair status`, metrics);
`catenactl repair` must name node 3 in chain 1 (outvoted by the head and
the middle) and re-copy it by state transfer while the chain serves (puts
during the repair are acknowledged and kept). Afterwards verify is clean,
every key reads back what was written, from every replica's telemetry
digests alike, and node 3 is chain 1's tail again.
"""

import time

from cluster import ONE_CHAIN

N = 24


def put_all(c, prefix, n, tag):
    res = c.ops([{"op": "put", "key": "%s-%d" % (prefix, i),
                  "value": "%s-%d-%s" % (prefix, i, tag)} for i in range(n)])
    assert [r["status_name"] for r in res["results"]] == ["OK"] * n, res
    return res


def read_all(c, prefix, n):
    res = c.ops([{"op": "get", "key": "%s-%d" % (prefix, i)} for i in range(n)])
    return {r["key_text"]: (r["status_name"], r.get("value_text"))
            for r in res["results"]}


def test_background_verify_finds_a_divergent_tail_and_repair_recopies_it(
        make_control_cluster):
    c = make_control_cluster(chains=ONE_CHAIN, clients=1,
                             control_conf="verify_interval_s = 1\n")
    ctl = c.ctl
    put_all(c, "ok", N, "a")
    # Node 2 forwards altered puts to node 3 (the tail) for a while.
    assert c.faults(2, corrupt_fwd_to=3)["corrupt_fwd_to"] == 3
    put_all(c, "k", N, "v1")
    assert c.faults(2, corrupt_fwd_to=0)["corrupt_fwd_to"] == 0
    assert c.stats(2)["fault_corrupted"] >= N
    # The plant worked: the tail serves values nobody wrote.
    got = read_all(c, "k", N)
    assert all(st == "OK" and v != "k-%d-v1" % i
               for i, (st, v) in enumerate(got[("k-%d" % j)]
                                           for j in range(N))), got

    # The background verify finds it.
    def found():
        r = ctl.result("repair_status")["background"]
        return r if r["differ_count"] > 0 else None
    bg = ctl.wait_for("the background verify to find the divergence",
                      found, timeout=15, period=0.2)
    assert "node 3 in chain 1" in bg["last"], bg
    events = " ".join(e["text"] for e in ctl.result("status")["events"])
    assert "background verify:" in events and "slots differ" in events, events

    # repair: node 3 is outvoted by the head and the middle.
    p = ctl.ctl("repair")
    assert p.returncode == 1, (p.returncode, p.stdout, p.stderr)
    assert "node 3 in chain 1" in p.stdout, p.stdout
    # Writes go on while node 3 is re-copied.
    put_all(c, "during", N, "d")

    def repaired():
        r = ctl.result("repair_status")
        ch = ctl.result("chains")[0]
        return (r if r["repaired"] == 1 and r["running"] is None and
                not r["queued"] and ch["members"] == [1, 2, 3] and
                "joining" not in ch else None)
    ctl.wait_for("node 3 to be re-copied into chain 1", repaired, timeout=30,
                 period=0.2)
    reasons = " | ".join(h["reason"] for h in
                         ctl.result("epoch_history", last=10)["history"])
    assert "repair: node 3 leaves chain 1" in reasons, reasons
    # It joins again: by the repair's own step, or first by the restore
    # policy (restore_replicas, on by default), which sees a short chain.
    assert ("repair: node 3 rejoins chain 1" in reasons or
            "node 3 joins it (state transfer from its tail, node 2)" in reasons), reasons
    assert "node 3 caught up" in reasons, reasons
    events = " ".join(e["text"] for e in ctl.result("status")["events"])
    assert "chain 1 has a fresh copy on node 3" in events, events

    # Every key reads what was written (from the tail, node 3 again).
    for prefix, tag in (("ok", "a"), ("k", "v1"), ("during", "d")):
        got = read_all(c, prefix, N)
        for i in range(N):
            assert got["%s-%d" % (prefix, i)] == ("OK", "%s-%d-%s" % (prefix, i, tag)), got
    c.quiesce()
    c.check_replicas()
    p = ctl.ctl("verify")
    assert p.returncode == 0, (p.stdout, p.stderr)
    # And the next background verify says they agree.
    runs = ctl.result("repair_status")["background"]["runs"]
    ctl.wait_for("a clean background verify", lambda: (
        lambda b: b["runs"] > runs and b["differ_count"] == 0)(
            ctl.result("repair_status")["background"]), timeout=15, period=0.2)


def test_repair_of_agreeing_replicas_changes_nothing(make_control_cluster):
    c = make_control_cluster(chains=ONE_CHAIN, clients=1,
                             control_conf="verify_interval_s = 0\n")
    ctl = c.ctl
    put_all(c, "x", 8, "v")
    c.quiesce()
    epoch = ctl.epoch()
    p = ctl.ctl("repair")
    assert p.returncode == 0, (p.stdout, p.stderr)
    assert "0 differ" in p.stdout, p.stdout
    r = ctl.result("repair_status")
    assert r["running"] is None and r["queued"] == [] and r["repaired"] == 0
    assert r["background"]["interval_s"] == 0
    assert ctl.epoch() == epoch
    p = ctl.ctl("repair", "5", "2")
    assert p.returncode == 1 and "expected FIRST <= LAST" in p.stderr, (
        p.returncode, p.stdout, p.stderr)
    time.sleep(0.1)
