"""
Scenario: an operator makes a cluster's first map with catena-mkmap
(docs/DEPLOY.md, step 1) instead of writing it by hand. From four nodes and
rf 3 it writes four rotated chains (chain i starts at the i-th node) with
every slot round robin; catena-control starts on that map and reports those
chains and nodes. With --learn it asks the network for a MAC not given
(an echo, then the kernel's neighbour table) and gets the peer's real MAC;
an address nobody answers for fails clearly, naming the node. Bad lists
(duplicate ids, rf above the node count, a bad MAC) are refused with a
message and exit 65, writing no map.
"""

import os
import subprocess

import netns
import pytest
from control import Control


def mkmap_bin(control_binaries):
    return os.path.join(os.path.dirname(control_binaries["control"]),
                        "catena-mkmap")


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=30,
                          **kw)


def test_mkmap_four_nodes_rf3_starts_catena_control(control_binaries,
                                                    tmp_path):
    mk = mkmap_bin(control_binaries)
    lst = tmp_path / "nodes.txt"
    lst.write_text("# id  address          mac\n"
                   "1 10.98.0.1 02:ca:7e:00:00:01\n"
                   "2 10.98.0.2 02:ca:7e:00:00:02\n"
                   "3 10.98.0.3:7471 02:ca:7e:00:00:03\n"
                   "4 10.98.0.4 02:ca:7e:00:00:04\n")
    out = tmp_path / "first.map"
    p = run([mk, "--rf", "3", "--nodes", str(lst), "-o", str(out)])
    assert p.returncode == 0, p.stderr
    text = out.read_text()
    assert "assign all roundrobin" in text, text

    ctl = Control(control_binaries, tmp_path)
    try:
        ready = ctl.start(initial_map=str(out))
        assert ready.get("epoch") == "1", ready
        chains = ctl.ctl_json("chains")
        assert [ch["members"] for ch in chains] == [
            [1, 2, 3], [2, 3, 4], [3, 4, 1], [4, 1, 2]], chains
        assert all(ch["slots"] == 256 for ch in chains), chains
        nodes = {n["id"]: n for n in ctl.ctl_json("nodes")}
        assert sorted(nodes) == [1, 2, 3, 4], nodes
        assert nodes[3]["address"] == "10.98.0.3:7471", nodes[3]
        assert nodes[4]["mac"] == "02:ca:7e:00:00:04", nodes[4]
    finally:
        assert ctl.stop() == 0, ctl.stderr()
        ctl.teardown()


@pytest.mark.parametrize("args,why", [
    (["--rf", "3", "1,10.98.0.1,02:00:00:00:00:01",
      "2,10.98.0.2,02:00:00:00:00:02"],
     "replication factor 3 is larger than the 2 nodes given"),
    (["--rf", "1", "1,10.98.0.1,02:00:00:00:00:01",
      "1,10.98.0.2,02:00:00:00:00:02"],
     "node 1 given twice (entries 1 and 2)"),
    (["--rf", "1", "1,10.98.0.1,02:00:00:00:00:01",
      "2,10.98.0.1,02:00:00:00:00:02"],
     "nodes 1 and 2 have the same address 10.98.0.1:7470"),
    (["--rf", "1", "1,10.98.0.1,02:00:00:00:00:0g"],
     "node 1: bad MAC address '02:00:00:00:00:0g'"),
    (["--rf", "1", "1,10.98.0.1"],
     "node 1: no MAC: give it as ID,IP[:PORT],MAC or use --learn"),
])
def test_mkmap_refuses_bad_lists_with_a_reason(control_binaries, args, why):
    p = run([mkmap_bin(control_binaries)] + args)
    assert p.returncode == 65, (p.returncode, p.stdout, p.stderr)
    assert why in p.stderr, p.stderr
    assert p.stdout == "", p.stdout


def test_mkmap_learn_reads_the_peer_mac_and_names_the_silent_node(
        control_binaries, privileges, tmp_path):
    mk = mkmap_bin(control_binaries)
    topo = netns.Topology(netns.pick_base(netns.pid_tag() + "mk"),
                          os.getpid() % 200 + 20)
    try:
        topo.create_bridge()
        me, peer = topo.add_client(), topo.add_client()
        topo.wait_up()
        link = netns.run("ip", "-n", peer["ns"], "-o", "link", "show",
                         peer["iface"]).stdout
        peer_mac = link.split("link/ether ")[1].split()[0]
        silent = peer["ip"].rsplit(".", 1)[0] + ".250"

        p = run(netns.nsexec(me["ns"], mk, "--rf", "1", "--learn",
                             "7," + peer["ip"]))
        assert p.returncode == 0, p.stderr
        assert ("node 7 %s %s" % (peer["ip"], peer_mac)) in p.stdout, (
            p.stdout, peer_mac)

        p = run(netns.nsexec(me["ns"], mk, "--rf", "2", "--learn",
                             "--learn-timeout", "1500", "7," + peer["ip"],
                             "8," + silent))
        assert p.returncode == 69, (p.returncode, p.stdout, p.stderr)
        assert ("node 8 (%s): MAC not learned: no ARP answer" % silent) in (
            p.stderr), p.stderr
        assert "node 7" not in p.stderr and p.stdout == "", p.stderr
    finally:
        topo.destroy()


def test_mkmap_learn_gets_a_running_catena_node_mac(control_binaries,
                                                    harness):
    # A catena-node answers ARP itself (its port is DPDK's, not the
    # kernel's): what DEPLOY.md's --learn relies on.
    h = harness.setup(clients=1)
    h.start_node(no_huge=True)
    node = h.topo.nodes[0]
    link = netns.run("ip", "-n", node["ns"], "-o", "link", "show",
                     node["iface"]).stdout
    mac = link.split("link/ether ")[1].split()[0]
    p = run(netns.nsexec(h.clients[0]["ns"], mkmap_bin(control_binaries),
                         "--rf", "1", "--learn", "1," + h.node_ip))
    assert p.returncode == 0, p.stderr
    assert ("node 1 %s %s" % (h.node_ip, mac)) in p.stdout, (p.stdout, mac)
