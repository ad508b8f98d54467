"""
Scenario: an operator reads the data ports of a running three-node cluster
through catena-control. Each node's heartbeat carries its port (mtu, value
limit, link, steering): catenactl status states the cluster's mtu and value
limit, catenactl nodes has a LINK and an MTU column, and a node whose veth
goes down and comes back shows up as link down, then up, with both events
in catenactl status; the cluster serves again afterwards.
"""

from cluster import THREE_CHAINS


def test_heartbeat_port_reaches_catenactl_and_a_link_outage_is_reported(
        make_control_cluster):
    c = make_control_cluster(chains=THREE_CHAINS, clients=1)
    ctl = c.ctl

    nodes = ctl.wait_for("every node's port in its heartbeat", lambda: (
        lambda t: t if all(t[i]["mtu"] == 1500 for i in (1, 2, 3)) else None)(
            {n["id"]: n for n in ctl.ctl_json("nodes")}))
    assert all(nodes[i]["link"] == "up" for i in (1, 2, 3)), nodes
    out = ctl.ctl("nodes").stdout
    assert "LINK" in out.splitlines()[0] and "MTU" in out.splitlines()[0], out

    st = ctl.ctl_json("status")
    assert st["mtu"] == 1500 and st["value_max"] == 1408, st
    assert st["data_links_down"] == 0, st
    assert st["value_limit"].startswith("1408 - key length bytes"), st
    out = ctl.ctl("status").stdout
    assert "value_limit" in out and "1408 - key length bytes" in out, out

    c.link(3, False)
    ctl.wait_for("node 3 link down", lambda: ctl.nodes()[3]["link"] == "down")
    st = ctl.ctl_json("status")
    assert st["data_links_down"] == 1, st
    c.link(3, True)
    c.topo.wait_up()
    ctl.wait_for("node 3 link up", lambda: ctl.nodes()[3]["link"] == "up")
    texts = [e["text"] for e in ctl.ctl_json("status")["events"]]
    assert any("node 3: data port link down (link_down_events 1)" in t
               for t in texts), texts
    assert any("node 3: data port link up again (link_up_events 1)" in t
               for t in texts), texts
    # The link was down well under the heartbeat timeout: no map change.
    assert ctl.epoch() == 1

    res = c.run({"mode": "fill", "n": 60, "prefix": "lk"})
    assert res["statuses"] == {"PUT OK": 60, "GET OK": 60}, res["statuses"]
