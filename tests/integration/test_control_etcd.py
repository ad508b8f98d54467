"""
Scenario: two catena-control instances with store = etcd share one etcd
(started here: Debian's /usr/bin/etcd, loopback only, data in tmp_path)
and one pair of socket paths. Exactly one leads: it holds <prefix>leader,
printed `ready` and serves the sockets; the other stays a follower. The
leader is killed with SIGKILL: the follower takes over within a few lease
periods, the nodes reconnect to it, and the map, epoch and epoch history
are the ones the first leader stored. Then a node is killed: the new
leader fails it (a new epoch, stored in etcd). etcd is stopped at the end.
"""

import base64
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.request

import pytest

import control as control_mod
from cluster import THREE_CHAINS

ETCD = "/usr/bin/etcd"
LEASE_MS = 2000          # etcd's shortest TTL with its default timing is 2 s


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def etcd_post(url, path, body, timeout=2.0):
    req = urllib.request.Request(url + path, data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    # No proxy: the request must stay on loopback.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(req, timeout=timeout) as r:
        return json.loads(r.read().decode())


def etcd_get(url, key):
    a = etcd_post(url, "/v3/kv/range",
                  {"key": base64.b64encode(key.encode()).decode()})
    kvs = a.get("kvs") or []
    if not kvs:
        return None
    return base64.b64decode(kvs[0].get("value", "")).decode()


@pytest.fixture
def etcd(tmp_path):
    if not os.access(ETCD, os.X_OK):
        pytest.skip("%s missing (apt-get install etcd-server)" % ETCD)
    client = "http://127.0.0.1:%d" % free_port()
    peer = "http://127.0.0.1:%d" % free_port()
    data = os.path.join(str(tmp_path), "etcd-data")
    log = open(os.path.join(str(tmp_path), "etcd.log"), "wb")
    p = subprocess.Popen(
        [ETCD, "--name", "catena-test", "--data-dir", data,
         "--listen-client-urls", client, "--advertise-client-urls", client,
         "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
         "--initial-cluster", "catena-test=" + peer],
        stdout=log, stderr=log, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                etcd_get(client, "/probe")
                break
            except OSError:
                assert p.poll() is None, "etcd exited %s" % p.returncode
                assert time.monotonic() < deadline, "etcd not up in 15 s"
                time.sleep(0.1)
        yield client
    finally:
        p.terminate()
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        log.close()
        shutil.rmtree(data, ignore_errors=True)


def snapshot(ctl):
    st = ctl.result("status")
    return {"epoch": st["epoch"],
            "chains": [(ch["id"], ch["members"], ch["slots"])
                       for ch in ctl.result("chains")],
            "history": ctl.result("epoch_history")["history"]}


def test_control_etcd_one_leader_failover_keeps_map_new_leader_fails_node(
        etcd, make_control_cluster, tmp_path, monkeypatch):
    Control = control_mod.Control
    shared = os.path.join(str(tmp_path), "control-shared")

    def conf(name):
        return {"endpoints": etcd, "instance": name, "lease_ms": LEASE_MS,
                "prefix": "/catena-test/"}

    def make_a(bins, tmp, **kw):
        return Control(bins, tmp, name="control-a", sock_dir=shared,
                       etcd=conf("ctl-a"), **kw)

    # make_control_cluster builds its Control through control.Control:
    # the first instance (started by the cluster setup, so it leads).
    monkeypatch.setattr(control_mod, "Control", make_a)
    c = make_control_cluster(chains=THREE_CHAINS, heartbeat_timeout_ms=800)
    monkeypatch.undo()
    a = c.ctl
    b = Control(a.bins, tmp_path, heartbeat_timeout_ms=800, name="control-b",
                sock_dir=shared, etcd=conf("ctl-b"))
    try:
        b.start(initial_map=c.map_path, wait_ready=False)

        # Exactly one leads, and stays the only one.
        assert etcd_get(etcd, "/catena-test/leader") == "ctl-a"
        assert a.result("status")["instance"] == "ctl-a"
        time.sleep(2.5 * LEASE_MS / 1000)
        assert b.alive() and a.alive()
        assert len(a.ready_lines()) == 1 and b.ready_lines() == [], (
            a.stdout(), b.stdout())
        assert "follower: the leader is ctl-a" in b.stderr(), b.stderr()
        assert etcd_get(etcd, "/catena-test/leader") == "ctl-a"
        assert a.result("status")["instance"] == "ctl-a"
        before = snapshot(a)
        assert before["epoch"] == 1, before
        doc = json.loads(etcd_get(etcd, "/catena-test/map"))
        assert doc["epoch"] == 1, doc

        # The leader crashes: the follower takes over.
        t0 = time.monotonic()
        a.kill9()
        b.wait_ready(timeout=4 * LEASE_MS / 1000 + 2)
        took = time.monotonic() - t0
        c.ctl = b            # the fixture's teardown stops b now
        print("takeover after %.2f s (lease %d ms)" % (took, LEASE_MS))
        assert took < 4 * LEASE_MS / 1000, took
        assert etcd_get(etcd, "/catena-test/leader") == "ctl-b"
        assert b.result("status")["instance"] == "ctl-b"
        b.wait_applied(1, (1, 2, 3), timeout=10)
        assert snapshot(b) == before
        assert [n["state"] for n in b.nodes().values()] == ["up"] * 3

        # A node crashes: the new leader fails it, in a new epoch.
        c.kill9(3)
        b.wait_for("node 3 failed at epoch 2",
                   lambda: b.nodes()[3]["state"] == "failed"
                   and b.epoch() == 2, timeout=10)
        b.wait_applied(2, (1, 2), timeout=10)
        for ch in b.result("chains"):
            assert 3 not in ch["members"], ch
        doc = json.loads(etcd_get(etcd, "/catena-test/map"))
        assert doc["epoch"] == 2 and doc["nodes"] == {"3": "failed"}, doc
        assert "node 3 failed" in b.stderr()
    finally:
        if c.ctl is not b:
            b.stop()
