"""
Scenario: node 3 of three rotating chains (head of chain 3, middle of 2,
tail of 1) is cut off while clients keep writing: its veth goes down (`ip
link set vn3 down` in its namespace) and its node channel to
catena-control is cut too (a relay in front of the node channel,
control.Relay: a partitioned machine loses both). catena-control misses its
heartbeats and removes it in epoch 2; clients move to nodes 1 and 2.

Then the link comes back first, with the node still at epoch 1 and the
control channel still cut: its epoch-1 replication messages reach the
others and are dropped (repl_drop_epoch), so its writes never commit, and a
client at epoch 2 asking it gets RETRY (it is behind), never its stale
data, and a client still at epoch 1 asking it gets RETRY too: it has not
heard the others at epoch 1 for longer than its read lease. Then the node
channel comes back: the node says hello at epoch 1, is
sent the current map (it is in no chain: a spare, state `returned`), and
answers MOVED from then on. Reads of keys written during the cut return
the new values, histories are linearizable, the survivors agree.

This first test runs catena-control with restore_replicas off, so the
returned node stays a spare and every step above can be seen. The second
test leaves it on (the default): the returned node rejoins every chain it
left by state transfer from the chain's tail and serves the values written
while it was away.
"""

import time


import catena_proto as cp
from cluster import THREE_CHAINS
from test_cluster_linearizable import KEYS, summary_line

HB_TIMEOUT_MS = 800
PACE = {"pause": 0.003}
CUT_KEYS = ["cut-%02d" % i for i in range(24)]


def chains_of_keys(c, keys):
    return {c.map.slot_chain[cp.slot_of(k.encode(), 1024)] for k in keys}


def cut(c, i):
    c.link(i, False)
    c.ctl.relays[i].cut()


def puts(c, keys, value, **kw):
    res = c.ops([{"op": "put", "key": k, "value": value} for k in keys],
                **kw)["results"]
    assert [r["status_name"] for r in res] == ["OK"] * len(keys), res
    return res


def wait_removed(c, victim, survivors):
    def removed():
        t = c.ctl.nodes()
        return t if (t[victim]["state"] == "failed" and
                     all(t[i]["epoch"] >= 2 for i in survivors)) else None
    return c.ctl.wait_for("node %d removed in epoch 2" % victim, removed,
                          timeout=HB_TIMEOUT_MS / 1000 + 8)


def test_link_down_node_removed_its_stale_epoch_rejected_clients_never_see_stale_data(
        make_control_cluster):
    c = make_control_cluster(chains=THREE_CHAINS, clients=2, relay=True,
                             heartbeat_timeout_ms=HB_TIMEOUT_MS,
                             control_conf="restore_replicas = off\n")
    c.adopt_map(1)
    assert chains_of_keys(c, CUT_KEYS) == {1, 2, 3}
    puts(c, CUT_KEYS, "old")
    times = {}

    def during(cl):
        time.sleep(1.0 + 1.5)
        times["cut"] = time.monotonic()
        cut(cl, 3)
        wait_removed(cl, 3, (1, 2))
        times["removed"] = time.monotonic()
        # Keys written while node 3 is away (from the other client ns).
        times["new"] = puts(cl, CUT_KEYS, "new", client=1)

    results = c.histories(KEYS, clients_per_ns=3, duration=5.0, seed=61,
                          max_ops=4000, extra=PACE, during=during)
    print("cut: node 3 removed %.0f ms after the cut"
          % ((times["removed"] - times["cut"]) * 1000))
    c.adopt_map(1)
    assert c.epoch == 2 and c.chains == [[1, 2], [2, 1], [1, 2]], c.map.text
    st3 = c.stats(3)
    assert int(st3["epoch"]) == 1, st3["epoch"]

    # Link back, control channel still cut: node 3 is at epoch 1.
    before = {i: c.stats(i) for i in (1, 2)}
    c.link(3, True)
    # A client whose map is node 3's (epoch 1) writes a key of chain 3 at
    # node 3 (its head at epoch 1; no rerouting): node 3 forwards it at
    # epoch 1, the others drop it, the write never commits.
    stale_key = [k for k in ("s%d" % n for n in range(100))
                 if c.map.slot_chain[cp.slot_of(k.encode(), 1024)] == 3][0]
    old_client = c.ops([{"op": "map"},
                        {"op": "put", "key": stale_key, "value": "ghost",
                         "to": 3}],
                       seeds=[c.ip(3)], timeout=0.1, retries=4)["results"]
    # A client still holding epoch 1 reads a key of chain 1 at its old
    # tail: node 3 has heard nobody at epoch 1 for longer than its read
    # lease (the others ping it at epoch 2), so it answers RETRY, never
    # the value chain 1 overwrote while it was away.
    k1 = [k for k in CUT_KEYS
          if c.map.slot_chain[cp.slot_of(k.encode(), 1024)] == 1][0]
    no_lease0 = int(c.stats(3).get("repl_read_no_lease", 0))
    probe = c.ops([{"op": "map"}, {"op": "get", "key": k1, "to": 3}],
                  seeds=[c.ip(3)], timeout=0.1, retries=2)["results"][1]
    print("epoch-1 client via node 3: map epoch %s, PUT -> %s; GET %s of "
          "chain 1 at node 3 -> %s %r"
          % (old_client[0]["epoch"], old_client[1]["status_name"], k1,
             probe["status_name"], probe.get("value_text")))
    assert old_client[0]["epoch"] == 1, old_client[0]
    assert old_client[1]["status_name"] != "OK", old_client[1]
    assert probe["status_name"] == "RETRY", probe
    assert int(c.stats(3)["repl_read_no_lease"]) > no_lease0

    def dropped():
        after = {i: c.stats(i) for i in (1, 2)}
        d = {i: (c.nodes[i].delta(before[i], after[i], "repl_drop_epoch"),
                 c.nodes[i].delta(before[i], after[i], "drops_total"))
             for i in (1, 2)}
        return d if sum(x[0] for x in d.values()) > 0 else None
    d = c.ctl.wait_for("nodes 1, 2 to drop node 3's epoch-1 messages",
                       dropped, timeout=5, period=0.2)
    print("old-epoch messages from node 3 dropped (repl_drop_epoch, "
          "drops_total) per node: %r" % d)

    # A client at epoch 2 asking node 3 directly (reads of chain 1, whose
    # tail node 3 was): RETRY, not the old value.
    res = c.ops([{"op": "get", "key": k, "to": 3} for k in CUT_KEYS[:6]],
                timeout=0.1, retries=2)["results"]
    for r in res:
        assert r["status_name"] in ("RETRY", "TIMEOUT"), r
        assert r.get("value_text") != "old", r

    # Control channel back: node 3 gets epoch 2, as a spare.
    c.ctl.relays[3].heal()
    t = c.ctl.wait_applied(2, (3,), timeout=10)
    assert t[3]["state"] == "returned" and t[3]["chains"] == [], t[3]
    assert t[3]["connected"] is True, t[3]
    ch = c.chains_of(3)
    assert int(ch["epoch"]) == 2 and all(
        ch[str(k)]["role"] == "none" for k in (1, 2, 3)), ch
    tc = c.nodes[3].telemetry("/catena/control")["/catena/control"]
    assert int(tc["maps_published"]) == 2 and int(tc["reconnects"]) >= 1, tc
    assert c.ctl.epoch() == 2, "the return must not change the map"

    # Nobody reads node 3's stale data: routed reads (fresh clients, all
    # seeds), epoch-2 clients at node 3 (MOVED, then the tail), and the
    # epoch-1 client again (node 3 now says MOVED with epoch 2).
    for kw in ({}, {"seeds": [c.ip(3)]}):
        res = c.ops([{"op": "get", "key": k} for k in CUT_KEYS], **kw)
        got = {r["key_text"]: (r["status_name"], r["value_text"])
               for r in res["results"]}
        assert got == {k: ("OK", "new") for k in CUT_KEYS}, got
        assert res["epoch"] == 2, res["epoch"]
    res = c.ops([{"op": "get", "key": k, "to": 3} for k in CUT_KEYS[:3]],
                retries=2)["results"]
    assert all(r["status_name"] == "MOVED" for r in res), res
    g = c.ops([{"op": "get", "key": stale_key}])["results"][0]
    assert g["status_name"] == "NOT_FOUND", g   # the ghost never committed

    c.quiesce(nodes=(1, 2), timeout=20)
    c.check_replicas(nodes=(1, 2))
    s = c.verify(KEYS, results)
    print(summary_line(results, s))
    v = c.ctl.ctl_json("verify")
    assert v["differ"] == [] and sorted(v["nodes"]) in ([1, 2], [1, 2, 3]), v
    ev = [e["text"] for e in c.ctl.ctl_json("status")["events"]]
    assert any("node 3 returned" in e for e in ev), ev


def test_link_down_node_rejoins_by_state_transfer_and_serves_new_values(
        make_control_cluster):
    c = make_control_cluster(chains=THREE_CHAINS, clients=1, relay=True,
                             heartbeat_timeout_ms=HB_TIMEOUT_MS)
    c.adopt_map(1)
    puts(c, CUT_KEYS, "old")
    cut(c, 3)
    wait_removed(c, 3, (1, 2))
    puts(c, CUT_KEYS, "new")
    c.link(3, True)
    t0 = time.monotonic()
    c.ctl.relays[3].heal()

    # catena-control sees node 3 back and, with chains short of their
    # three replicas, makes it join each one; each tail streams it the
    # chain's slots and hands over once it has caught up.
    def rejoined():
        chains = c.ctl.ctl_json("chains")
        ok = all(len(ch["members"]) == 3 and "joining" not in ch
                 for ch in chains)
        return chains if ok else None
    chains = c.ctl.wait_for("node 3 back in all three chains", rejoined,
                            timeout=30, period=0.2)
    took = time.monotonic() - t0
    assert [ch["members"][-1] for ch in chains] == [3, 3, 3], chains
    t = c.ctl.nodes()
    assert t[3]["state"] == "up" and t[3]["connected"] is True, t[3]
    hist = c.ctl.ctl_json("epoch", "history")["history"]
    reasons = [h["reason"] for h in hist]
    assert sum("node 3 joins it" in r for r in reasons) == 3, reasons
    assert sum("node 3 caught up" in r for r in reasons) == 3, reasons
    print("rejoin: node 3 back as tail of chains 1, 2, 3 %.1f s after its "
          "control channel returned; epochs: %s" % (took, reasons[-6:]))

    c.quiesce(timeout=15)
    c.adopt_map(1)
    c.check_replicas()
    # Node 3 is every chain's tail: it answers the values written while
    # it was away, to a client that asks it directly.
    res = c.ops([{"op": "get", "key": k, "to": 3} for k in CUT_KEYS])
    got = {r["key_text"]: (r["status_name"], r["value_text"])
           for r in res["results"]}
    assert got == {k: ("OK", "new") for k in CUT_KEYS}, got
    v = c.ctl.ctl_json("verify")
    assert v["differ"] == [] and sorted(v["nodes"]) == [1, 2, 3], v
    st = c.chains_of(3)
    assert all(st[str(k)]["role"] == "tail" for k in (1, 2, 3)), st


def test_data_link_only_down_node_removed_by_what_others_hear_then_rejoins(
        make_control_cluster):
    """Only node 3's data link goes down (`ip link set vn3 down`): its
    control channel works, so its heartbeats go on. Every node pings the
    others on the data network and says in its heartbeats whom it heard;
    nobody hears node 3 while nodes 1 and 2 hear each other, so
    catena-control removes it. When the link is back, the others hear it
    again and it rejoins its chains by state transfer."""
    c = make_control_cluster(chains=THREE_CHAINS, clients=2,
                             heartbeat_timeout_ms=HB_TIMEOUT_MS)
    c.adopt_map(1)
    puts(c, CUT_KEYS, "old")
    times = {}

    def during(cl):
        time.sleep(1.0 + 1.5)
        times["cut"] = time.monotonic()
        cl.link(3, False)
        t = cl.ctl.wait_for("node 3 removed for its data link", lambda: (
            cl.ctl.nodes() if all(len(ch["members"]) == 2 for ch in
                                  cl.ctl.ctl_json("chains")) else None),
            timeout=HB_TIMEOUT_MS / 1000 + 8, period=0.05)
        times["removed"] = time.monotonic()
        assert t[3]["connected"] is True, t[3]   # its channel never broke
        times["new"] = puts(cl, CUT_KEYS, "new", client=1)

    results = c.histories(KEYS, clients_per_ns=3, duration=5.0, seed=63,
                          max_ops=4000, extra=PACE, during=during)
    hist = [h["reason"] for h in c.ctl.ctl_json("epoch", "history")["history"]]
    assert any("node 3 cut off from the data network" in r for r in hist), hist
    t0 = time.monotonic()
    c.link(3, True)

    def rejoined():
        chains = c.ctl.ctl_json("chains")
        return chains if all(len(ch["members"]) == 3 and "joining" not in ch
                             for ch in chains) else None
    c.ctl.wait_for("node 3 back in all three chains", rejoined, timeout=30,
                   period=0.2)
    print("data link cut: node 3 removed %.0f ms after its link went down; "
          "back in its chains %.1f s after the link returned"
          % ((times["removed"] - times["cut"]) * 1000, time.monotonic() - t0))
    c.quiesce(timeout=15)
    c.adopt_map(1)
    c.check_replicas()
    s = c.verify(KEYS, results)
    res = c.ops([{"op": "get", "key": k, "to": 3} for k in CUT_KEYS])
    got = {r["key_text"]: (r["status_name"], r["value_text"])
           for r in res["results"]}
    assert got == {k: ("OK", "new") for k in CUT_KEYS}, got
    v = c.ctl.ctl_json("verify")
    assert v["differ"] == [] and sorted(v["nodes"]) == [1, 2, 3], v
    print(summary_line(results, s))
