"""
Scenario: lifecycle. SIGTERM and SIGINT stop the node cleanly (exit 0, a
summary on stderr, no hugepage files of its prefix left behind); it also
runs without hugepages; a bad config is refused with exit 2 and a line
naming the key.
"""

import re
import signal
import time


def wait_exit(node, timeout=20):
    deadline = time.monotonic() + timeout
    while node.proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    return node.stop()


def test_sigterm_exits_0_and_leaves_no_hugepage_files(cluster):
    node = cluster.node
    cluster.workload({"mode": "fill", "n": 500, "prefix": "sd"})
    rc = node.stop(signal.SIGTERM)
    assert rc == 0, "exit %s\nstderr:\n%s" % (rc, node.stderr()[-3000:])
    assert node.hugepage_leftovers() == []
    assert node.stderr().strip(), "no shutdown summary on stderr"
    print("summary: %s" % node.stderr().strip().splitlines()[-1])


def test_sigint_exits_0_as_well(cluster):
    node = cluster.node
    rc = node.stop(signal.SIGINT)
    assert rc == 0, "exit %s\nstderr:\n%s" % (rc, node.stderr()[-3000:])
    assert node.hugepage_leftovers() == []


def test_node_runs_without_hugepages(harness):
    harness.setup(clients=1)
    harness.start_node(no_huge=True)
    r = harness.cli("ping")
    assert r.returncode == 0 and r.stdout.startswith("OK slots=1024"), (r.stdout, r.stderr)
    res = harness.ops([{"op": "put", "key": "nh", "value": "1"},
                       {"op": "get", "key": "nh"}])
    assert res[1]["value_text"] == "1"


def test_bad_ip_in_config_exits_2_naming_the_key(harness):
    harness.setup(clients=1)
    node = harness.start_node(wait_ready=False,
                              conf=lambda c: re.sub(r"(?m)^ip = .*$", "ip = 10.0.0", c))
    rc = wait_exit(node)
    err = node.stderr()
    assert rc == 2, "exit %s\nstderr:\n%s" % (rc, err[-2000:])
    assert "ip" in err and "10.0.0" in err, err[-2000:]
    assert "ready" not in node.stdout()


def test_unknown_config_key_exits_2_naming_it(harness):
    harness.setup(clients=1)
    node = harness.start_node(wait_ready=False,
                              conf=lambda c: c + "slotz = 2048\n")
    rc = wait_exit(node)
    err = node.stderr()
    assert rc == 2, "exit %s\nstderr:\n%s" % (rc, err[-2000:])
    assert "slotz" in err, err[-2000:]
