"""
Scenario: an operator captures a serving node's traffic with the stock
dpdk-dumpcap (a DPDK secondary process attaching through the node's
--file-prefix; the node enabled pdump at start). A ping from a client
namespace shows up in the capture file; the node keeps serving and stops
cleanly. Needs hugepage files a secondary can map: no --huge-unlink.
"""

import os
import subprocess
import time

import conftest
import netns

DUMPCAP = "/usr/bin/dpdk-dumpcap"


def test_dpdk_dumpcap_captures_a_ping(harness):
    harness.setup(clients=1)
    # A node as start_node makes it, but with hugepage files a secondary
    # process can map.
    node = conftest.Node(harness, harness.topo.nodes[0]["ns"], harness.node_ip,
                         1, harness.tmp, False, [], None, "backoff")
    node.cmd = [a for a in node.cmd if a != "--huge-unlink"]
    harness.nodes.append(node)
    node.start()

    pcap = os.path.join(harness.tmp, "node.pcapng")
    cap = subprocess.Popen(netns.nsexec(node.ns, DUMPCAP, "--file-prefix=" +
                                        node.prefix, "-i", "0", "-c", "4",
                                        "-q", "-w", pcap),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True)
    harness.procs.append(cap)
    try:
        deadline = time.monotonic() + 20
        while cap.poll() is None and time.monotonic() < deadline:
            netns.run(*netns.nsexec(harness.clients[0]["ns"], "ping", "-c", "2",
                                    "-i", "0.2", "-W", "1", harness.node_ip),
                      check=False)
        out, err = cap.communicate(timeout=10)
    finally:
        if cap.poll() is None:
            cap.kill()
            cap.wait()
    assert cap.returncode == 0, "dpdk-dumpcap exit %s\n%s\n%s" % (
        cap.returncode, out[-2000:], err[-2000:])
    data = open(pcap, "rb").read()
    # pcapng: a section header block, then the captured ICMP echoes.
    assert data[:4] == b"\x0a\x0d\x0d\x0a", data[:16]
    assert data.count(bytes(map(int, harness.node_ip.split(".")))) >= 2, len(data)
    st = node.stats()
    assert int(st["icmp_echo_replies"]) >= 2, st
    assert node.stop() == 0, node.stderr()[-2000:]
    assert not node.hugepage_leftovers()
