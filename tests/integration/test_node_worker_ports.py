"""
Scenario: a two-worker node whose cluster map announces its worker ports
("workers 1 2": slot s is also taken on udp_port + 1 + s % 2, the port a
NIC with flow rules steers to the slot's owner). Both clients that read
the map (libcatena's catena-cli and the Python ClusterClient) send to the
worker ports and are served; a client that ignores the line still uses
udp_port; a map announcing more workers than the node runs is refused.
"""

import json
import os
import subprocess
import time

import netns
from conftest import PYTHON

HERE = os.path.dirname(os.path.abspath(__file__))
CLUSTER_WORKLOAD = os.path.join(HERE, "cluster_workload.py")


def map_conf(harness, workers_line):
    path = os.path.join(harness.tmp, "wp.map")
    with open(path, "w") as f:
        f.write("epoch 1\nslots 1024\nnode 1 %s\nchain 1 1\nassign 0-1023 1\n%s"
                % (harness.node_ip, workers_line))
    return lambda conf: conf.replace("[store]\nslots = 1024\n", "") + (
        "[cluster]\nmap = %s\n" % path)


def cluster_workload(harness, args):
    data = json.dumps(dict({"seeds": [harness.node_ip]}, **args))
    p = subprocess.run(netns.nsexec(harness.clients[0]["ns"], PYTHON,
                                    CLUSTER_WORKLOAD, data),
                       capture_output=True, text=True, timeout=180)
    assert p.returncode == 0, p.stderr[-3000:]
    return json.loads(p.stdout.strip().splitlines()[-1])


def test_clients_send_to_the_worker_ports_the_map_announces(harness):
    harness.setup(clients=1)
    node = harness.start_node(workers=2, conf=map_conf(harness, "workers 1 2\n"))
    before = node.stats()
    served = node.telemetry("/catena/map")["/catena/map"]["lines"]
    assert "workers 1 2" in served, served

    res = cluster_workload(harness, {"mode": "fill", "n": 200, "prefix": "wp"})
    assert res["statuses"] == {"PUT OK": 200, "GET OK": 200}, res["statuses"]
    mid = node.stats()
    # Every PUT and GET went to a worker port (MAP_GET to udp_port).
    assert node.delta(before, mid, "rx_worker_port_datagrams") >= 400, mid
    assert node.delta(before, mid, "drop_udp_port") == 0, mid

    for k, v in (("a", "1"), ("b", "2"), ("c", "3")):
        p = harness.cli("put", k, v)
        assert p.returncode == 0, p.stderr
    p = harness.cli("get", "b")
    assert p.returncode == 0 and p.stdout.strip() == "2", (p.stdout, p.stderr)
    after = node.stats()
    assert node.delta(mid, after, "rx_worker_port_datagrams") >= 4, after

    # A client that knows nothing of the map still uses udp_port.
    res = harness.ops([{"op": "get", "key": "b"}])
    assert res[0]["status_name"] == "OK" and res[0]["value_text"] == "2", res
    assert node.delta(after, node.stats(), "rx_worker_port_datagrams") == 0


def test_map_announcing_more_workers_than_the_node_runs_is_refused(harness):
    harness.setup(clients=1)
    node = harness.start_node(workers=2, wait_ready=False,
                              conf=map_conf(harness, "workers 1 3\n"))
    deadline = time.monotonic() + 20
    while node.proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    rc = node.stop()
    assert rc == 2, "want exit 2, got %s\nstderr:\n%s" % (rc, node.stderr()[-2000:])
    assert "workers 1 3: this node runs 2 workers" in node.stderr(), node.stderr()
    assert not node.hugepage_leftovers()
