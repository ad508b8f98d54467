"""
Scenario: the node is a well-behaved host on its segment: a client's kernel
resolves its MAC with ARP and `ping` gets ICMP echo replies.
"""

import shutil
import subprocess


import netns


def test_ping_from_a_client_namespace_gets_replies(cluster):
    cns = cluster.clients[0]["ns"]
    p = subprocess.run(netns.nsexec(cns, "ping", "-c", "3", "-W", "1",
                                    cluster.node_ip),
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "3 received" in p.stdout, p.stdout
    neigh = netns.run("ip", "-n", cns, "neigh", "show", cluster.node_ip).stdout
    assert "lladdr" in neigh, "ARP did not resolve the node: %r" % neigh


def test_large_ping_payload_is_echoed(cluster):
    cns = cluster.clients[0]["ns"]
    p = subprocess.run(netns.nsexec(cns, "ping", "-c", "2", "-W", "1", "-s",
                                    "1400", "-p", "c0ffee", cluster.node_ip),
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "2 received" in p.stdout and "wrong data" not in p.stdout, p.stdout


def test_arping_resolves_the_node(cluster):
    arping = shutil.which("arping")
    assert arping is not None, "arping missing: scripts/setup.sh installs iputils-arping"
    cns = cluster.clients[0]["ns"]
    p = subprocess.run(netns.nsexec(cns, arping, "-c", "2", "-w", "3", "-I",
                                    "vc1", cluster.node_ip),
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stdout + p.stderr
