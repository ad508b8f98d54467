"""
Scenario: the concurrent workload of test_cluster_linearizable, for about
20 s, while the network and the nodes misbehave:
  - loss: nftables in the bridge namespace drops 5% of bridged UDP
    (`table bridge f`, chain `fw`: client requests, replies, FWD, ACK);
  - duplication: a netdev ingress chain on every bridge port copies 3% of
    the UDP frames entering the bridge to br0, whose transmit path forwards
    the copy to the same destination (checked first: 100% duplication of
    two PINGs gives four replies);
  - delay, jitter, reordering: each node's own fault injector
    (/catena/faults, delay_us=300, jitter_us=300, reorder_pct=10) on its
    replication traffic.
The faults must show in the counters (nft rule counters; fault_delayed,
fault_reordered, repl_fwd_retransmitted, repl_fwd_duplicate/gap). Then
heal (rules deleted, injector off), wait until no node has a write in
flight, and check: acknowledged writes present, replicas identical,
histories linearizable.
"""

from cluster import THREE_CHAINS
from test_cluster_linearizable import KEYS, summary_line

LOSS_PCT = 5
DUP_PCT = 3


def dup_rules(c, pct):
    match = "numgen random mod 100 < %d " % pct if pct < 100 else ""
    ports = [n["port"] for n in c.topo.nodes + c.topo.clients]
    chains = "".join(
        '  chain in_%s {\n'
        '    type filter hook ingress device "%s" priority 0;\n'
        '    meta l4proto udp %scounter dup to "br0" comment "dup %s"\n'
        '  }\n' % (p.replace("-", "_"), p, match, p) for p in ports)
    return "table netdev d {\n%s}\n" % chains


def test_duplicating_rule_really_duplicates(make_cluster):
    # Calibrate the duplication rule alone: at 100%, every request reaches
    # the node twice and every reply the client twice.
    c = make_cluster(chains=THREE_CHAINS, clients=1)
    c.nft(dup_rules(c, 100))
    c.nft_tables.append(("netdev", "d"))
    res = c.run({"mode": "ops", "ops": [
        {"op": "ping", "to": 1}, {"op": "ping", "to": 2}]})
    cnt = c.nft_counters("netdev", "d")
    c.nft("delete table netdev d\n")
    assert [r["status_name"] for r in res["results"]] == ["OK", "OK"], res
    # The client sent 3 datagrams (MAP_GET to node 1, a PING to node 1,
    # one to node 2); each reached its node twice.
    assert cnt["dup %s" % c.topo.clients[0]["port"]] == 3, cnt
    st = {i: c.stats(i) for i in (1, 2)}
    assert (int(st[1]["requests_map_get"]), int(st[1]["requests_ping"]),
            int(st[2]["requests_ping"])) == (2, 2, 2), st
    # The nodes' replies were duplicated too: the client dropped the extras.
    assert cnt["dup p-n1"] >= 1 and cnt["dup p-n2"] >= 1, cnt
    assert res["stats"]["stray"] >= 3, res["stats"]


def test_loss_duplication_delay_reordering_then_heal_stays_consistent(
        make_cluster):
    c = make_cluster(chains=THREE_CHAINS, clients=2)
    c.nft("table bridge f {\n"
          "  chain fw {\n"
          "    type filter hook forward priority 0;\n"
          "    meta l4proto udp numgen random mod 100 < %d counter drop "
          "comment \"loss\"\n"
          "  }\n"
          "}\n" % LOSS_PCT)
    c.nft_tables.append(("bridge", "f"))
    c.nft(dup_rules(c, DUP_PCT))
    c.nft_tables.append(("netdev", "d"))
    for i in (1, 2, 3):
        f = c.faults(i, delay_us=300, jitter_us=300, reorder_pct=10)
        assert (int(f["delay_us"]), int(f["reorder_pct"])) == (300, 10), f

    # Short per-try timeouts: more ops in the window, and client re-sends
    # that overtake writes still in the chain (dedup in flight).
    results = c.histories(KEYS, clients_per_ns=3, duration=12.0, seed=21,
                          max_ops=4000, extra={"timeout": 0.05,
                                               "retries": 40})

    loss = c.nft_counters("bridge", "f")["loss"]
    dups = sum(c.nft_counters("netdev", "d").values())
    c.nft("delete table bridge f\ndelete table netdev d\n")
    for i in (1, 2, 3):
        c.faults(i, delay_us=0, jitter_us=0, reorder_pct=0)
    st = c.quiesce(timeout=30)
    tot = {k: sum(int(st[i].get(k, 0)) for i in (1, 2, 3)) for k in (
        "fault_delayed", "fault_reordered", "fault_queue_full",
        "repl_fwd_retransmitted", "repl_fwd_duplicate", "repl_fwd_gap",
        "repl_dup_committed", "repl_dup_in_flight", "repl_peer_suspect")}
    cl = {k: sum(r["stats"][k] for r in results)
          for k in results[0]["stats"]}
    print("faults: nft loss %d, nft dup %d; nodes %r; clients %r"
          % (loss, dups, tot, cl))
    assert loss > 0 and dups > 0, (loss, dups)
    assert tot["fault_delayed"] > 0 and tot["fault_reordered"] > 0, tot
    assert tot["repl_fwd_retransmitted"] > 0, tot
    assert tot["repl_fwd_duplicate"] + tot["repl_fwd_gap"] > 0, tot
    assert cl["resends"] > 0, cl

    c.check_replicas()
    s = c.verify(KEYS, results)
    print(summary_line(results, s))
