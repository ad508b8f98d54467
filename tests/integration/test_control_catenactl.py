"""
Scenario: catena-control owns the map of a running three-node cluster
(three rotating chains; the nodes got their first map from it, not from a
file). Every catenactl command answers, as a table and as --json: status,
nodes, chains, slots, stats, epoch history, verify. After a concurrent
workload, verify compares every written slot across its chain and finds
every replica equal -- and agrees with the nodes' own digests.
"""

import catena_proto as cp
from cluster import THREE_CHAINS
from test_cluster_linearizable import KEYS, summary_line


def table(text):
    """A catenactl table: header row split on blanks, then the rows."""
    lines = [l for l in text.splitlines() if l.strip()]
    return lines[0].split(), [l.split() for l in lines[1:]]


def test_catenactl_every_command_tables_and_json_then_verify_clean(
        make_control_cluster):
    c = make_control_cluster(chains=THREE_CHAINS, clients=2)
    ctl = c.ctl
    c.adopt_map(1)
    assert c.map.epoch == 1 and c.chains == THREE_CHAINS, c.map.text

    # status
    st = ctl.ctl_json("status")
    assert (st["epoch"], st["nodes_up"], st["nodes_total"], st["chains"],
            st["slots"], st["store"]) == (1, 3, 3, 3, 1024, "file"), st
    assert st["socket_mode"] == "0660" and isinstance(st["events"], list), st
    p = ctl.ctl("status")
    assert p.returncode == 0, p.stderr
    assert "epoch" in p.stdout and "3 up / 3 total" in p.stdout, p.stdout
    # Said plainly: nothing on the data network is authenticated.
    assert st["data_auth"].startswith("none"), st
    assert "data network" in p.stdout and "member's IP and MAC" in p.stdout, \
        p.stdout

    # nodes
    nodes = {n["id"]: n for n in ctl.ctl_json("nodes")}
    assert sorted(nodes) == [1, 2, 3], nodes
    for i, n in nodes.items():
        assert n["state"] == "up" and n["connected"] is True, n
        assert n["epoch"] == 1 and n["address"].startswith(c.ip(i)), n
        assert n["mac"] == "02:ca:7e:00:00:%02x" % i, n
        assert n["last_heartbeat_ms"] < ctl.heartbeat_timeout_ms, n
    p = ctl.ctl("nodes")
    head, rows = table(p.stdout)
    assert p.returncode == 0 and "STATE" in head, p.stdout
    for i in (1, 2, 3):
        row = [r for r in rows if r and r[0] == str(i)]
        assert row and "up" in row[0] and c.ip(i) in " ".join(row[0]), (
            p.stdout)

    # chains
    chains = ctl.ctl_json("chains")
    assert [ch["members"] for ch in chains] == THREE_CHAINS, chains
    assert sum(ch["slots"] if isinstance(ch["slots"], int) else
               len(ch["slots"]) for ch in chains) in (1024, 3), chains
    for ch in chains:
        assert (ch["head"], ch["tail"]) == (ch["members"][0],
                                            ch["members"][-1]), ch
    p = ctl.ctl("chains")
    head, rows = table(p.stdout)
    assert p.returncode == 0 and "HEAD" in head and "TAIL" in head, p.stdout
    assert [r[1:4] for r in rows[:3]] == [[str(x) for x in ch]
                                          for ch in THREE_CHAINS], p.stdout

    # slots: the control plane's table is the nodes' routing table
    sl = ctl.ctl_json("slots")
    got = {s["slot"]: s["chain"] for s in sl["slots"]}
    assert len(got) == 1024, "slots answered %d slots" % len(got)
    assert all(got[s] == c.map.slot_chain[s] for s in range(1024)), (
        "catenactl slots differs from the nodes' map")
    part = ctl.ctl_json("slots", 5, 3)
    assert [s["slot"] for s in part["slots"]] == [5, 6, 7], part
    assert [s["members"] for s in part["slots"]] == [
        c.map.chain_of(s) for s in (5, 6, 7)], part
    p = ctl.ctl("slots", 0, 4)
    assert p.returncode == 0 and len(table(p.stdout)[1]) >= 4, p.stdout

    # a workload, then stats and verify
    results = c.histories(KEYS, clients_per_ns=3, duration=4.0, seed=41,
                          max_ops=1500)
    c.quiesce()
    fill = c.run({"mode": "fill", "n": 300, "prefix": "ctl"})
    assert fill["bad"] == [], fill["bad"]
    c.quiesce()
    s = c.verify(KEYS, results)
    print(summary_line(results, s))

    stats = ctl.ctl_json("stats")
    per = {n["id"]: n for n in stats["nodes"]}
    assert sorted(per) == [1, 2, 3], stats
    for i in (1, 2, 3):
        assert per[i]["state"] == "up" and per[i]["stats"], per[i]
        assert int(per[i]["stats"]["requests"]) > 0, per[i]
    # Heartbeats lag the nodes by at most heartbeat_ms: wait for the sums
    # to cover the commits of the 300 fill PUTs at least.
    ctl.wait_for("stats sums to show the workload", lambda: int(
        ctl.result("stats")["sum"].get("repl_commits", 0)) >= 300, 5)
    p = ctl.ctl("stats")
    head, rows = table(p.stdout)
    assert p.returncode == 0 and "TOTAL" in head, p.stdout
    assert any(r and r[0] == "requests" for r in rows), p.stdout

    hist = ctl.ctl_json("epoch", "history")
    assert hist["total"] == 1 and hist["history"][0]["epoch"] == 1, hist
    p = ctl.ctl("epoch", "history")
    assert p.returncode == 0 and "REASON" in p.stdout, p.stdout

    v = ctl.ctl_json("verify")
    written = c.check_replicas()
    print("verify: %r; written slots per node %r" % (
        {k: v[k] for k in v if k != "differ"}, written))
    assert v["differ"] == [] and v["differ_count"] == 0, v["differ"][:5]
    assert sorted(v["nodes"]) == [1, 2, 3], v
    # Every written slot at least (catena-control counts every slot of
    # the map it compared, written or not: "compares every slot").
    assert v["slots_checked"] >= len(
        set(c.digests(1)[0]) | set(c.digests(2)[0]) |
        set(c.digests(3)[0])) > 100, (v["slots_checked"], written)
    p = ctl.ctl("verify")
    assert p.returncode == 0, (p.stdout, p.stderr)

    # The nodes' own view of the control channel.
    for i in (1, 2, 3):
        t = c.nodes[i].telemetry("/catena/control")["/catena/control"]
        assert t["state"] == "connected" and int(t["connected"]) == 1, t
        assert int(t["maps_published"]) == 1 and int(t["maps_rejected"]) == 0
        assert int(t["digest_requests"]) >= 2, t
    assert ctl.epoch() == 1
    assert cp.slot_of(b"x", 1024) in got
