"""
Scenarios about the node's port (docs/DEPLOY.md): which steering it chose
on a device without rte_flow or RSS and why, forced steering modes the port
cannot give, the MTU and the value limit that follows it (including a bad
or too large mtu), and the link going down and up under a serving node.
Only virtual devices: af_packet on the test's own veth, and net_ring.
"""

import os
import re
import subprocess
import time

import pytest

import conftest
import netns


def port_info(node):
    return node.telemetry("/catena/port")["/catena/port"]


def wait_port(node, pred, what, timeout=10.0):
    deadline = time.monotonic() + timeout
    while True:
        p = port_info(node)
        if pred(p):
            return p
        if time.monotonic() > deadline:
            pytest.fail("timed out waiting for %s; /catena/port: %r\nstderr:\n%s"
                        % (what, p, node.stderr()[-2000:]), pytrace=False)
        time.sleep(0.1)


def wait_exit(node, timeout=20.0):
    deadline = time.monotonic() + timeout
    while node.proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    return node.stop()


def test_af_packet_two_workers_falls_back_to_software_handover(harness):
    harness.setup(clients=1)
    node = harness.start_node(workers=2)
    p = port_info(node)
    assert p["driver"] == "net_af_packet" and p["queues"] == 2, p
    assert p["steering"] == "software", p
    assert p["steering_asked"] == "auto", p
    # af_packet has neither rte_flow nor an RSS hash: both are named.
    assert "flow rules refused" in p["steering_reason"], p
    assert "no IPv4/UDP RSS" in p["steering_reason"], p
    assert p["flow_rules"] == 0 and p["worker_udp_port_first"] == 7471, p
    assert p["ifname"] == "vn1", p
    log = [l for l in node.stderr().splitlines() if "steering software" in l]
    assert log and "flow rules refused" in log[0], node.stderr()[-2000:]
    # The fallback serves: writes for slots of both workers.
    res = harness.workload({"mode": "fill", "n": 200, "prefix": "sw"})
    assert res["statuses"] == {"PUT OK": 200, "GET OK": 200}, res["statuses"]


def test_one_worker_needs_no_steering(cluster):
    p = port_info(cluster.node)
    assert p["steering"] == "single" and p["flow_rules"] == 0, p
    assert "one worker" in p["steering_reason"], p


@pytest.mark.parametrize("mode", ["flow", "rss"])
def test_forced_steering_the_port_cannot_give_refuses_to_start(harness, mode):
    harness.setup(clients=1)
    node = harness.start_node(workers=2, wait_ready=False,
                              sets=["node.steering=" + mode])
    rc = wait_exit(node)
    assert rc == 1, "want exit 1, got %s\nstderr:\n%s" % (rc, node.stderr()[-2000:])
    assert "ready" not in node.stdout()
    assert "steering = %s but" % mode in node.stderr(), node.stderr()[-2000:]
    assert not node.hugepage_leftovers()


def test_forced_software_steering_is_reported(harness):
    harness.setup(clients=1)
    node = harness.start_node(workers=2, sets=["node.steering=software"])
    p = port_info(node)
    assert p["steering"] == "software" and p["steering_asked"] == "software", p
    assert "as configured" in p["steering_reason"], p


@pytest.mark.parametrize("value,why", [
    ("9001", "out of range 576..9000"),
    ("575", "out of range 576..9000"),
    ("1500b", "not a decimal number"),
    ("", "not a decimal number"),
])
def test_bad_mtu_is_one_clear_line_and_exit_2(harness, value, why):
    harness.setup(clients=1)
    node = harness.start_node(wait_ready=False, sets=["node.mtu=" + value])
    rc = wait_exit(node)
    assert rc == 2, "want exit 2, got %s\nstderr:\n%s" % (rc, node.stderr())
    err = node.stderr().strip().splitlines()
    assert len(err) == 1 and "[node] mtu" in err[0] and why in err[0], err


def test_bad_steering_value_is_one_clear_line_and_exit_2(harness):
    harness.setup(clients=1)
    node = harness.start_node(wait_ready=False, sets=["node.steering=fast"])
    rc = wait_exit(node)
    assert rc == 2, "want exit 2, got %s\nstderr:\n%s" % (rc, node.stderr())
    err = node.stderr().strip().splitlines()
    assert len(err) == 1 and "[node] steering: expected auto, flow, rss or " \
        "software: \"fast\"" in err[0], err


def test_mtu_above_what_af_packet_takes_is_refused_clearly(harness):
    # DPDK 22.11's af_packet takes frames of 1518 bytes at most.
    harness.setup(clients=1)
    node = harness.start_node(wait_ready=False, sets=["node.mtu=9000"])
    rc = wait_exit(node)
    assert rc == 1, "want exit 1, got %s\nstderr:\n%s" % (rc, node.stderr())
    assert re.search(r"\[node\] mtu 9000 is outside what the device takes "
                     r"\(\d+\.\.1500", node.stderr()), node.stderr()[-2000:]
    assert not node.hugepage_leftovers()


def test_smaller_mtu_sets_the_value_limit(harness):
    harness.setup(clients=1)
    node = harness.start_node(sets=["node.mtu=1200"])
    p = port_info(node)
    assert p["mtu"] == 1200 and p["value_max"] == 1200 - 92, p
    key = "mtu-key"
    limit = 1200 - 92 - len(key)
    res = harness.ops([
        {"op": "put", "key": key, "value": "v" * limit},
        {"op": "put", "key": key, "value": "v" * (limit + 1)},
        {"op": "get", "key": key},
    ])
    assert [r["status_name"] for r in res] == ["OK", "TOO_LARGE", "OK"], res
    assert len(res[2]["value_text"]) == limit


def test_jumbo_mtu_on_a_port_that_takes_it(harness):
    # net_ring takes any frame size: the node configures mtu 9000 and
    # states the value limit that follows (no packet leaves the process).
    harness.setup(clients=1)
    node = conftest.Node(harness, harness.topo.nodes[0]["ns"], harness.node_ip,
                         2, harness.tmp, True, ["node.mtu=9000"], None,
                         "backoff")
    i = node.cmd.index("--vdev")
    node.cmd[i + 1] = "net_ring0"
    harness.nodes.append(node)
    node.start()
    p = port_info(node)
    assert (p["driver"], p["mtu"], p["value_max"]) == ("net_ring", 9000,
                                                       9000 - 92), p
    assert p["steering"] == "software" and p["ifname"] == "", p
    assert "value limit 8908 - key length" in node.stderr(), node.stderr()[-2000:]


def test_link_down_and_up_is_logged_counted_and_survived(harness):
    harness.setup(clients=1)
    node = harness.start_node()
    ns = harness.topo.nodes[0]["ns"]
    res = harness.ops([{"op": "put", "key": "before", "value": "1"}])
    assert res[0]["status_name"] == "OK", res
    p = port_info(node)
    assert p["link"] == "up" and p["link_down_events"] == 0, p

    netns.run("ip", "-n", ns, "link", "set", "vn1", "down")
    p = wait_port(node, lambda p: p["link"] == "down", "link down")
    assert p["link_down_events"] == 1 and p["link_up_events"] == 0, p
    assert "link down (link_down_events 1)" in node.stderr(), node.stderr()[-2000:]
    time.sleep(0.5)

    netns.run("ip", "-n", ns, "link", "set", "vn1", "up")
    harness.topo.wait_up()
    p = wait_port(node, lambda p: p["link"] == "up", "link up")
    assert p["link_down_events"] == 1 and p["link_up_events"] == 1, p
    assert p["link_down_ms_total"] >= 400, p
    assert re.search(r"link up after \d+ ms down \(link_up_events 1, ",
                     node.stderr()), node.stderr()[-2000:]

    # It serves again, with what it held before.
    res = harness.ops([{"op": "get", "key": "before"},
                       {"op": "put", "key": "after", "value": "2"},
                       {"op": "get", "key": "after"}])
    assert [r["status_name"] for r in res] == ["OK", "OK", "OK"], res
    assert [res[0]["value_text"], res[2]["value_text"]] == ["1", "2"], res
    assert node.proc.poll() is None


def run_node_without_port(binaries, tmp_path, eal, node_conf=""):
    conf = tmp_path / "node.conf"
    conf.write_text("[node]\nid = 1\nip = 10.0.0.1\n" + node_conf)
    return subprocess.run(
        [binaries["node"], "-l", "0,1", "--no-pci", "--no-huge", "-m", "64",
         "--file-prefix", "noport-%d" % os.getpid()] + eal +
        ["--", "--config", str(conf)],
        capture_output=True, text=True, timeout=30)


def test_no_port_is_a_config_error_that_names_the_options(binaries, tmp_path):
    # The form from the issue: no --vdev, no -a, --no-pci. It used to die
    # of SIGSEGV inside rte_eth_dev_socket_id.
    p = run_node_without_port(binaries, tmp_path, [])
    assert p.returncode == 2, (p.returncode, p.stderr[-2000:])
    for what in ("no DPDK port", "--vdev", "-a ", "dpdk-devbind.py"):
        assert what in p.stderr, "missing %r in:\n%s" % (what, p.stderr)


def test_port_id_past_the_devices_is_a_config_error(binaries, tmp_path):
    p = run_node_without_port(binaries, tmp_path, ["--vdev", "net_null0"],
                              "port_id = 1\n")
    assert p.returncode == 2, (p.returncode, p.stderr[-2000:])
    assert "port_id 1: no such DPDK port (1 available" in p.stderr, p.stderr
