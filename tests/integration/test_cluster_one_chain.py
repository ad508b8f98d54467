"""
Scenario: three nodes, one chain 1 -> 2 -> 3 holding every slot. A client
that knows only the map routes writes to the head (node 1) and gets the
answer from the tail (node 3); reads go to the tail. Sent to the wrong
node on purpose (raw protocol), a write at node 2 and a read at node 1 are
answered MOVED with the right node as hint and not executed. catena-cli
given a single node fetches the map and works; `catena-cli map` prints it.
The replicas end identical.
"""

import re

import catena_proto as cp
from cluster import ONE_CHAIN


def test_one_chain_head_writes_tail_answers_moved_elsewhere_cli_follows_map(
        make_cluster):
    c = make_cluster(chains=ONE_CHAIN, clients=1)
    for i, role in ((1, "head"), (2, "middle"), (3, "tail")):
        ch = c.chains_of(i)
        assert ch["1"]["role"] == role and ch["1"]["nodes"] == "1,2,3", ch

    res = c.ops([{"op": "put", "key": "k1", "value": "one"},
                 {"op": "get", "key": "k1"},
                 {"op": "incr", "key": "ctr", "arg": 5},
                 {"op": "cas", "key": "k1", "expected_value": "one",
                  "value": "two"},
                 {"op": "get", "key": "k1"},
                 # raw: the wrong node on purpose, no routing
                 {"op": "put", "key": "k1", "value": "bad", "to": 2},
                 {"op": "get", "key": "k1", "to": 1},
                 {"op": "del", "key": "ctr", "to": 3},
                 {"op": "get", "key": "k1", "to": 2},
                 {"op": "get", "key": "k1"}])["results"]
    put, get, incr, cas, get2, mv_w, mv_r, mv_d, mv_r2, get3 = res
    # A write is sent to the head and answered by the tail.
    for r in (put, incr, cas):
        assert r["status_name"] == "OK", r
        assert r["info"]["nodes"] == [1] and r["info"]["from"] == 3, r
    assert incr["value_text"] == "5"
    # A read is sent to the tail and answered there.
    for r, want in ((get, "one"), (get2, "two"), (get3, "two")):
        assert r["status_name"] == "OK" and r["value_text"] == want, r
        assert r["info"]["nodes"] == [3] and r["info"]["from"] == 3, r
    assert get2["arg"] == cas["arg"], "GET version = the CAS's new version"
    # Wrong node: MOVED, epoch 1, hint = head for writes, tail for reads.
    for r, frm, hint in ((mv_w, 2, 1), (mv_r, 1, 3), (mv_d, 3, 1),
                         (mv_r2, 2, 3)):
        assert r["status_name"] == "MOVED", r
        assert r["info"]["from"] == frm and r["arg"] == hint, r
        assert r["epoch"] == 1, r
    # ... and not executed: the value is still "two" on the tail.
    assert get3["value_text"] == "two"

    # catena-cli with one node (the middle one) fetches the map and routes.
    for host in (c.ip(2),):
        r = c.cli("put", "cli-key", "hello", host=host)
        assert r.returncode == 0 and re.fullmatch(r"OK version=\d+\n",
                                                  r.stdout), (r.stdout,
                                                              r.stderr)
        r = c.cli("get", "cli-key", host=host)
        assert (r.returncode, r.stdout) == (0, "hello\n"), (r.stdout, r.stderr)
        r = c.cli("incr", "cli-ctr", "7", host=c.ip(3))
        assert (r.returncode, r.stdout) == (0, "7\n"), (r.stdout, r.stderr)
    r = c.cli("map", host=c.ip(3))
    assert r.returncode == 0, r.stderr
    shown = cp.ClusterMap(r.stdout)
    assert (shown.epoch, shown.slots, shown.craq, shown.nodes, shown.chains,
            shown.slot_chain) == (c.map.epoch, c.map.slots, c.map.craq,
                                  c.map.nodes, c.map.chains,
                                  c.map.slot_chain), r.stdout
    assert "chain 1 1 2 3\n" in r.stdout and "assign 0-1023 1\n" in r.stdout
    assert "node 2 %s 02:ca:7e:00:00:02\n" % c.ip(2) in r.stdout, r.stdout
    # Every node serves the same canonical text (MAP_GET and telemetry).
    for i in (1, 2, 3):
        tel = c.nodes[i].telemetry("/catena/map")["/catena/map"]
        assert "\n".join(tel["lines"]) + "\n" == r.stdout, (i, tel)

    c.quiesce()
    written = c.check_replicas()
    assert written[1] == written[2] == written[3] >= 3, written
