"""
Scenario: per-hop timing (/catena/hops). A chain of three takes PUTs; the
head and the middle each time every FWD they send on (fwd), the tail every
write it answers (reply); nodes that play no such role count nothing. The
times are the protocol's own cost per hop, without wake-ups or network.
"""

from cluster import ONE_CHAIN


def test_each_node_times_its_own_hop(make_cluster):
    c = make_cluster(chains=ONE_CHAIN, clients=1)
    n = 200
    res = c.ops([{"op": "put", "key": "hop-%d" % i, "value": "v"}
                 for i in range(n)])["results"]
    assert all(r["status_name"] == "OK" for r in res), res[:3]
    hops = {i: c.nodes[i].telemetry("/catena/hops")["/catena/hops"]
            for i in (1, 2, 3)}
    for i in (1, 2, 3):
        print("node %d: fwd %r\n        reply %r" % (i, hops[i]["fwd"],
                                                    hops[i]["reply"]))
    for i in (1, 2):
        f = hops[i]["fwd"]
        assert int(f["count"]) >= n, (i, f)
        assert 0 < int(f["p50_ns"]) <= int(f["p99_ns"]) <= int(f["max_ns"]), f
        # Receive to send within one poll iteration: far below a second.
        assert int(f["p50_ns"]) < 100 * 1000 * 1000, f
        assert int(hops[i]["reply"]["count"]) == 0, (i, hops[i])
    r = hops[3]["reply"]
    assert int(r["count"]) >= n and 0 < int(r["p50_ns"]) < 100 * 1000 * 1000, r
    assert int(hops[3]["fwd"]["count"]) == 0, hops[3]
