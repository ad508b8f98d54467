"""
Scenario: three nodes, three chains in rotation (config/cluster-3chains.map
with this run's addresses), every node running two workers (--lcores
0@0,1@1,2@0, two queue pairs), so FWD/ACK cross the handover rings too.
/catena/chains shows each node head of one chain, middle of one, tail of
one. A client writing many keys (routed by the map) touches all three
chains; every write is answered by its chain's tail, reads back, and the
replicas of each slot end identical.
"""

from cluster import THREE_CHAINS


def test_three_chains_rotate_roles_and_a_workload_touches_every_chain(
        make_cluster):
    c = make_cluster(chains=THREE_CHAINS, clients=1, workers=2)
    for i in (1, 2, 3):
        assert c.nodes[i].ready["workers"] == "2", c.nodes[i].ready
        ch = c.chains_of(i)
        assert int(ch["n_chains"]) == 3, ch
        roles = {ch[str(k)]["role"]: int(ch[str(k)]["id"]) for k in (1, 2, 3)}
        assert sorted(roles) == ["head", "middle", "tail"], (i, ch)
        for role, cid in roles.items():
            nodes = [int(x) for x in ch[str(cid)]["nodes"].split(",")]
            assert nodes == THREE_CHAINS[cid - 1], ch
            assert nodes.index(i) == {"head": 0, "middle": 1,
                                      "tail": 2}[role], (i, ch)

    n = 300
    res = c.run({"mode": "fill", "n": n, "prefix": "rr"})
    assert res["statuses"] == {"PUT OK": n, "GET OK": n}, res
    assert res["bad"] == [], res["bad"]
    assert sorted(res["chains_written"]) == ["1", "2", "3"], res
    # Writes are answered by the tail of their chain: all three nodes.
    assert sorted(res["write_answered_by"]) == ["1", "2", "3"], res

    st = c.quiesce()
    for i in (1, 2, 3):
        ch = c.chains_of(i)
        for k in (1, 2, 3):
            e = ch[str(k)]
            if e["role"] != "tail":
                # Every chain forwarded from its head and middle ...
                assert int(e["forwarded"]) > 0 and int(e["acked"]) > 0, (i, e)
            assert int(e["in_flight"]) == 0, (i, e)
        assert int(st[i]["repl_fwd_applied"]) > 0, st[i]
    # Slot s belongs to worker s % 2 on every node: requests and FWD/ACK
    # that arrive on the other worker's queue cross the handover ring.
    handovers = 0
    for i in (1, 2, 3):
        lc = c.nodes[i].telemetry("/catena/lcores")["/catena/lcores"]
        ws = [w for w in lc.values() if isinstance(w, dict)]
        assert len(ws) == 2, lc
        assert sum(int(w["handover_sent"]) for w in ws) == sum(
            int(w["handover_received"]) for w in ws), lc
        handovers += sum(int(w["handover_sent"]) for w in ws)
    assert handovers > 0, "no request crossed a handover ring"
    written = c.check_replicas()
    # Each node replicates every chain: every written slot is on it.
    assert written[1] == written[2] == written[3] > 200, written
