"""
Scenario: the cluster map changes while clients are writing and reading
(SIGHUP with a new map file, epoch 2), on one chain 1 -> 2 -> 3:
  - middle failure: node 2 is frozen (SIGSTOP), then nodes 1 and 3 load
    the map `chain 1 1 3`; node 1 resends what 2 never acknowledged;
  - tail failure: node 3 is frozen, nodes 1 and 2 load `chain 1 1 2`;
    node 2 becomes the tail, commits what it holds and answers for it;
    clients whose reads met silence refetch the map and read at node 2;
  - planned tail removal: node 3 stays up and loads the map first (it is
    then in no chain), then 2, then 1; clients reading at 3 get MOVED with
    the new epoch, refetch the map and resend the same request to node 2.
In every case: no acknowledged write is lost, the replicas of the new
chain are identical, and every key's history is linearizable.
"""

import time

from cluster import ONE_CHAIN
from test_cluster_linearizable import KEYS, summary_line

# Paced clients: enough ops around the change, histories lincheck digests
# in seconds. The retry budget (10 x 200 ms) outlasts the failover.
PACE = {"pause": 0.002}


def run_with_change(c, change, seed, survivors, clients_learn=True):
    def during(cl):
        time.sleep(1.0 + 2.0)       # start_at is 1 s out; then 2 s of load
        change(cl)
    results = c.histories(KEYS, clients_per_ns=3, duration=7.0, seed=seed,
                          max_ops=3000, extra=PACE, during=during)
    st = c.quiesce(nodes=survivors, timeout=20)
    c.check_replicas(nodes=survivors)
    s = c.verify(KEYS, results)
    print(summary_line(results, s))
    for r in results:
        # (Dropping the middle changes no client's route: nothing to learn.)
        assert r["epoch"] == 2 or not clients_learn, "client %d still at epoch %d" % (r["client"],
                                                                  r["epoch"])
    return results, st, s


def test_middle_node_failure_then_map_without_it_loses_no_write(make_cluster):
    c = make_cluster(chains=ONE_CHAIN, clients=2)

    def change(cl):
        cl.sigstop(2)
        time.sleep(0.5)             # writes pile up unacknowledged at 1
        cl.reload(2, [[1, 3]], nodes=[1, 3])

    results, st, s = run_with_change(c, change, 31, (1, 3),
                                     clients_learn=False)
    assert int(st[1]["repl_fwd_retransmitted"]) > 0, st[1]
    for i in (1, 3):
        ch = c.chains_of(i)
        assert ch["1"]["nodes"] == "1,3" and int(ch["epoch"]) == 2, ch
    print("middle failure: node 1 retransmitted %s, clients gave up %d"
          % (st[1]["repl_fwd_retransmitted"],
             sum(r["stats"]["gave_up"] for r in results)))


def test_tail_failure_then_map_without_it_loses_no_write(make_cluster):
    c = make_cluster(chains=ONE_CHAIN, clients=2)

    def change(cl):
        cl.sigstop(3)
        time.sleep(0.5)
        cl.reload(2, [[1, 2]], nodes=[2, 1])

    results, st, s = run_with_change(c, change, 32, (1, 2))
    refreshed = sum(r["stats"]["refresh_on_silence"] for r in results)
    print("tail failure: clients refetched the map on silence %d times"
          % refreshed)
    # Reads that went to the frozen tail met silence and moved to node 2.
    assert refreshed > 0, [r["stats"] for r in results]
    assert int(st[2]["repl_commits"]) > 0
    ch = c.chains_of(2)
    assert ch["1"]["role"] == "tail" and ch["1"]["nodes"] == "1,2", ch


def test_planned_tail_removal_clients_follow_moved(make_cluster):
    c = make_cluster(chains=ONE_CHAIN, clients=2)

    def change(cl):
        # Old tail first: once it stops answering reads (MOVED), node 2
        # has everything 3 ever committed; then 2 becomes the tail.
        cl.reload(2, [[1, 2]], nodes=[3, 2, 1])

    results, st, s = run_with_change(c, change, 33, (1, 2, 3))
    moved = sum(r["moved_followed"] for r in results)
    print("planned removal: MOVED followed %d times, node 3 answered "
          "%s MOVED" % (moved, st[3]["repl_moved"]))
    assert moved > 0 and int(st[3]["repl_moved"]) > 0
    assert all(r["stats"]["gave_up"] == 0 for r in results), [
        r["stats"] for r in results]
    assert s["unknown"] == 0, s
    ch = c.chains_of(3)
    assert ch["1"]["role"] == "none", ch


# A node put back in a chain must come through a join (state transfer):
# maps alone, no control plane, as an operator with SIGHUP would do it.
def test_node_rejoining_after_missing_writes_serves_them(make_cluster):
    c = make_cluster(chains=ONE_CHAIN, clients=1)
    r = c.ops([{"op": "put", "key": "a", "value": "1"}])["results"]
    assert r[0]["status_name"] == "OK", r
    c.sigstop(2)
    c.reload(2, [[1, 3]], nodes=[1, 3])
    r = c.ops([{"op": "put", "key": "a", "value": "2"},
               {"op": "put", "key": "b", "value": "x"}])["results"]
    assert [x["status_name"] for x in r] == ["OK", "OK"], r
    c.sigcont(2)
    # Node 2 joins: node 3 (the tail) streams it every slot.
    c.reload(3, [[1, 3]], nodes=[2, 3, 1], joins={1: 2})
    deadline = time.monotonic() + 20
    while True:
        ch = c.chains_of(3)["1"]
        if int(ch["xfer_caught_up"]) == 1024:
            break
        assert time.monotonic() < deadline, ch
        time.sleep(0.1)
    j = c.chains_of(2)["1"]
    assert j["role"] == "joining" and int(j["join_slots_done"]) == 1024, j
    assert int(ch["xfer_keys"]) >= 2, ch
    c.reload(4, [[1, 3, 2]], nodes=[2, 3, 1])     # node 2 back, as tail
    r = c.ops([{"op": "get", "key": "a"}, {"op": "get", "key": "b"},
               {"op": "put", "key": "a", "value": "3"}],
              timeout=0.2, retries=5)["results"]
    got = [(x["status_name"], x.get("value_text")) for x in r]
    assert got == [("OK", "2"), ("OK", "x"), ("OK", "")], got
    c.quiesce()
    c.check_replicas()
