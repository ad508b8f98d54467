"""
Scenario: the node channel with a cluster secret (docs/CONTROL.md,
"Cluster secret"). catena-control and the three nodes of one chain share a
secret file; the cluster forms and serves, and `catenactl status` says the
channel is authenticated.

- A node restarted with another secret is refused: catena-control logs the
  failed authentication, the node logs it too, and it stays out of its
  chain. Restarted with no secret it is told the cluster needs one. With
  the right secret again it rejoins.
- Raw peers on the node socket: a plain hello (even one naming a live
  node) is refused and the live node keeps its connection; a peer that
  follows the documented protocol with the right secret is answered with
  lines whose tags check (here: "unknown node"); a tagged line recorded on
  one connection and replayed on another is refused; so is a wrong secret,
  and a peer that leaves without answering the challenge is counted.
- A node with a secret whose catena-control has none waits for a
  challenge that never comes, says why, and never says hello.
- A secret file others can read, or too short, stops either process at
  start with a message naming the file.
"""

import hashlib
import hmac
import json
import os
import socket
import struct
import subprocess
import time

from cluster import ONE_CHAIN
from control import connect_unix

SECRET = b"sixteen-bytes-at-least: catena test secret"
LABEL = b"catena node channel v1\0"


def write_secret(path, data=SECRET, mode=0o600):
    with open(path, "wb") as f:
        f.write(data + b"\n")
    os.chmod(path, mode)
    return path


def members(ctl):
    return [ch["members"] for ch in ctl.ctl_json("chains")]


class Peer:
    """A raw client of catena-control's node socket that speaks the
    documented protocol itself (Python's hmac, not catena's code)."""

    def __init__(self, path):
        self.s = connect_unix(path)
        self.s.settimeout(5.0)
        self.buf = b""
        self.key = None
        self.tx = self.rx = 0

    def line(self):
        while b"\n" not in self.buf:
            chunk = self.s.recv(65536)
            if not chunk:
                return None
            self.buf += chunk
        l, self.buf = self.buf.split(b"\n", 1)
        return l

    def closed(self):
        """True once the server closed (after anything it still sent)."""
        try:
            while True:
                chunk = self.s.recv(65536)
                if not chunk:
                    return True
                self.buf += chunk
        except socket.timeout:
            return False

    def challenge(self):
        c = json.loads(self.line())
        assert c["type"] == "auth" and c["alg"] == "hmac-sha256", c
        assert len(c["nonce"]) == 32, c
        return bytes.fromhex(c["nonce"])

    def answer(self, nonce_c, secret, nonce_n=None):
        nonce_n = nonce_n or os.urandom(16)
        self.key = hmac.new(secret, LABEL + nonce_c + nonce_n,
                            hashlib.sha256).digest()
        self.send_plain({"type": "auth", "nonce": nonce_n.hex()})

    def tag(self, direction, seq, data):
        return hmac.new(self.key, direction + struct.pack(">Q", seq) + data,
                        hashlib.sha256).hexdigest().encode()

    def send_plain(self, obj):
        self.s.sendall(json.dumps(obj).encode() + b"\n")

    def send_tagged(self, obj):
        data = json.dumps(obj, separators=(",", ":")).encode()
        wire = self.tag(b"N", self.tx, data) + b" " + data + b"\n"
        self.tx += 1
        self.s.sendall(wire)
        return wire

    def recv_tagged(self):
        l = self.line()
        assert l is not None, "closed before a tagged line"
        tag, data = l[:64], l[65:]
        assert l[64:65] == b" ", l
        assert hmac.compare_digest(tag, self.tag(b"C", self.rx, data)), (
            "catena-control's tag does not check: %r" % l)
        self.rx += 1
        return json.loads(data)

    def close(self):
        self.s.close()


def rewrite_node_conf(node, secret_line):
    """Node configs end in their [control] section: replace its
    secret_file line (or drop it with secret_line=None)."""
    with open(node.conf) as f:
        lines = [l for l in f.read().splitlines()
                 if not l.startswith("secret_file")]
    if secret_line is not None:
        lines.append(secret_line)
    with open(node.conf, "w") as f:
        f.write("\n".join(lines) + "\n")


def test_secret_cluster_serves_refuses_wrong_secret_and_rejoins(
        make_control_cluster, tmp_path):
    good = write_secret(str(tmp_path / "cluster.secret"))
    bad = write_secret(str(tmp_path / "other.secret"),
                       b"another-secret-of-enough-length")
    c = make_control_cluster(chains=ONE_CHAIN, clients=1,
                             control_conf="secret_file = %s\n" % good,
                             conf_extra="secret_file = %s\n" % good)
    ctl = c.ctl
    assert "node_auth=hmac-sha256" in ctl.ready_lines()[0], ctl.stdout()

    # The cluster works through the authenticated channel.
    r = c.cli("put", "auth-key", "v1")
    assert r.returncode == 0, r.stderr
    r = c.cli("get", "auth-key", host=c.ip(3))
    assert r.returncode == 0 and "v1" in r.stdout, (r.stdout, r.stderr)
    st = ctl.ctl_json("status")
    assert st["node_auth"] == "hmac-sha256", st
    assert st["node_auth_refused"] == 0, st
    p = ctl.ctl("status")
    assert "hmac-sha256 with the cluster secret; 0 connections refused" in (
        p.stdout), p.stdout
    for i in (1, 2, 3):
        t = c.nodes[i].telemetry("/catena/control")["/catena/control"]
        assert t["connected"] == 1 and t["auth"] == 1, t
        assert t["auth_failures"] == 0, t
        assert "connected and authenticated" in c.nodes[i].stderr()

    # Node 3 comes back with another secret: refused, stays out.
    c.kill9(3)
    ctl.wait_for("node 3 removed", lambda: members(ctl) == [[1, 2]],
                 timeout=10)
    rewrite_node_conf(c.nodes[3], "secret_file = %s" % bad)
    c.restart(3)
    ctl.wait_for("the refusal of node 3's connection",
                 lambda: "failed authentication" in ctl.stderr(), timeout=10)
    c.nodes[3].proc.poll()
    assert c.nodes[3].proc.returncode is None, "node 3 exited"
    deadline = time.monotonic() + 5
    while "failed authentication" not in c.nodes[3].stderr():
        assert time.monotonic() < deadline, c.nodes[3].stderr()[-2000:]
        time.sleep(0.05)
    t = c.nodes[3].telemetry("/catena/control")["/catena/control"]
    assert t["auth_failures"] >= 1, t
    nodes = {n["id"]: n for n in ctl.ctl_json("nodes")}
    assert nodes[3]["state"] == "failed", nodes[3]
    assert members(ctl) == [[1, 2]], "a node with the wrong secret rejoined"
    assert ctl.ctl_json("status")["node_auth_refused"] >= 1

    # With no secret at all, it is told the cluster has one.
    c.kill9(3)
    rewrite_node_conf(c.nodes[3], None)
    c.restart(3)
    deadline = time.monotonic() + 10
    while "requires the cluster secret" not in c.nodes[3].stderr():
        assert time.monotonic() < deadline, c.nodes[3].stderr()[-2000:]
        time.sleep(0.05)
    # It says hello at once, unasked: refused with what it lacks.
    assert "it did not authenticate" in ctl.stderr(), ctl.stderr()[-2000:]
    assert members(ctl) == [[1, 2]]

    # The right secret: it rejoins by state transfer and holds the key.
    c.kill9(3)
    rewrite_node_conf(c.nodes[3], "secret_file = %s" % good)
    c.restart(3)
    ctl.wait_for("node 3 back in the chain",
                 lambda: members(ctl) == [[1, 2, 3]] and
                 "joining" not in ctl.ctl_json("chains")[0], timeout=30)
    r = c.cli("get", "auth-key", host=c.ip(3))
    assert r.returncode == 0 and "v1" in r.stdout, (r.stdout, r.stderr)


def test_raw_peers_without_the_secret_are_refused(make_control_cluster,
                                                  tmp_path):
    good = write_secret(str(tmp_path / "cluster.secret"))
    c = make_control_cluster(chains=ONE_CHAIN, clients=1,
                             control_conf="secret_file = %s\n" % good,
                             conf_extra="secret_file = %s\n" % good)
    ctl = c.ctl
    sock = ctl.node_sock

    # A plain hello naming a live node: refused; the node keeps its seat.
    p = Peer(sock)
    p.challenge()
    p.send_plain({"type": "hello", "node": 2, "epoch": 1})
    err = json.loads(p.line())
    assert err["type"] == "error", err
    assert "authentication required" in err["error"], err
    assert p.closed()
    p.close()
    nodes = {n["id"]: n for n in ctl.ctl_json("nodes")}
    assert nodes[2]["state"] == "up" and nodes[2]["connected"], nodes[2]

    # The documented protocol with the right secret: catena-control's
    # answer carries a tag that checks with Python's own HMAC.
    p = Peer(sock)
    nonce_c = p.challenge()
    p.answer(nonce_c, SECRET)
    recorded = p.send_tagged({"type": "hello", "node": 99, "epoch": 0})
    err = p.recv_tagged()
    assert err["type"] == "error" and "unknown node 99" in err["error"], err
    assert p.closed()
    p.close()

    # That tagged hello replayed on a new connection (new nonces): refused.
    p = Peer(sock)
    p.answer(p.challenge(), SECRET)
    p.s.sendall(recorded)
    assert p.closed()
    p.close()

    # A wrong secret: refused.
    p = Peer(sock)
    p.answer(p.challenge(), b"not-the-cluster-secret-at-all")
    p.send_tagged({"type": "hello", "node": 2, "epoch": 1})
    assert p.closed()
    p.close()

    # Gone after the challenge, without a word.
    p = Peer(sock)
    p.challenge()
    p.close()
    ctl.wait_for("the silent peer counted",
                 lambda: "closed the connection before it authenticated" in
                 ctl.stderr(), timeout=5)

    st = ctl.ctl_json("status")
    assert st["node_auth_refused"] == 4, st
    events = "\n".join(e["text"] for e in st["events"])
    assert "refused a connection from local pid %d" % os.getpid() in events, (
        events)
    # The real nodes were never disturbed.
    nodes = {n["id"]: n for n in ctl.ctl_json("nodes")}
    assert all(n["state"] == "up" and n["connected"] for n in nodes.values())
    assert members(ctl) == [[1, 2, 3]]
    r = c.cli("put", "still-fine", "yes")
    assert r.returncode == 0, r.stderr


def test_node_with_secret_never_talks_to_control_without_one(
        make_control_cluster, tmp_path):
    good = write_secret(str(tmp_path / "cluster.secret"))
    c = make_control_cluster(chains=ONE_CHAIN, clients=1)
    ctl = c.ctl
    assert "node_auth=none" in ctl.ready_lines()[0], ctl.stdout()
    p = ctl.ctl("status")
    assert "unauthenticated (no secret_file)" in p.stdout, p.stdout

    c.kill9(3)
    ctl.wait_for("node 3 removed", lambda: members(ctl) == [[1, 2]],
                 timeout=10)
    rewrite_node_conf(c.nodes[3], "secret_file = %s" % good)
    c.restart(3)
    deadline = time.monotonic() + 10
    while "no authentication challenge" not in c.nodes[3].stderr():
        assert time.monotonic() < deadline, c.nodes[3].stderr()[-2000:]
        time.sleep(0.05)
    assert "hello node 3" not in c.nodes[3].stderr()
    t = c.nodes[3].telemetry("/catena/control")["/catena/control"]
    assert t["auth"] == 1 and t["auth_failures"] >= 1, t
    # Never said hello, so never "connected": it waits for a challenge,
    # or for its next attempt.
    assert t["state"] in ("authenticating", "waiting", "connecting"), t
    assert t["connected"] == 0, t
    nodes = {n["id"]: n for n in ctl.ctl_json("nodes")}
    assert nodes[3]["state"] == "failed", nodes[3]


def test_secret_file_errors_stop_both_processes(control_binaries, tmp_path):
    loose = write_secret(str(tmp_path / "loose.secret"), mode=0o644)
    short = write_secret(str(tmp_path / "short.secret"), b"tiny")
    m = tmp_path / "one.map"
    m.write_text("epoch 1\nslots 16\nnode 1 10.0.0.1 02:00:00:00:00:01\n"
                 "chain 1 1\nassign 0-15 1\n")
    for secret, why in ((loose, "chmod 600"), (short, "at least 16"),
                        (str(tmp_path / "missing"), "No such file")):
        conf = tmp_path / "control.conf"
        conf.write_text(
            "[control]\nstate_dir = %s\nnode_listen = unix:%s\n"
            "mgmt_socket = %s\ninitial_map = %s\nsecret_file = %s\n"
            % (tmp_path / "state", tmp_path / "n.sock", tmp_path / "m.sock",
               m, secret))
        p = subprocess.run([control_binaries["control"], "--config",
                            str(conf)], capture_output=True, text=True,
                           timeout=10)
        assert p.returncode == 2, (p.returncode, p.stderr)
        assert secret in p.stderr and why in p.stderr, p.stderr

    # catena-node checks its config, secret file included, before EAL
    # starts (docs/OPERATIONS.md): exit 2, and EAL never printed a line or
    # took memory. No namespace needed.
    for secret, why, connect in (
            (loose, "chmod 600", "connect = unix:%s\n" % (tmp_path / "n.sock")),
            (short, "at least 16", "connect = unix:%s\n" % (tmp_path / "n.sock")),
            (short, "connect is not", "")):
        conf = tmp_path / "node.conf"
        conf.write_text("[node]\nid = 1\nip = 10.0.0.1\n[control]\n%s"
                        "secret_file = %s\n" % (connect, secret))
        p = subprocess.run([control_binaries["node"], "--no-pci", "--no-huge",
                            "-m", "64", "--file-prefix", "auth-cfg-%d" % os.getpid(),
                            "--vdev", "net_null0", "--", "--config", str(conf)],
                           capture_output=True, text=True, timeout=30)
        assert p.returncode == 2, (p.returncode, p.stdout + p.stderr)
        assert why in p.stderr, p.stderr
        assert "EAL:" not in p.stdout + p.stderr, \
            "the secret was checked only after EAL started:\n" + p.stderr
