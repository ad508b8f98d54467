"""
Scenario: an operator upgrading a cluster asks which version every process
runs (docs/CONTROL.md, "hello"; docs/OPERATIONS.md).

- A three-node cluster under catena-control: every node's hello carries
  the version `catena-node --version` prints; `catenactl nodes` shows it
  for each node and `catenactl status` shows catena-control's own version
  and one group of node versions (table and --json).
- Raw peers on the node socket, as nodes of other builds: a hello with a
  version of its own and one without (a node older than the field) make
  `status` group the nodes by version and say MIXED; a hello whose
  version is not short printable text is refused, and the node it names
  keeps no version.
"""

import json
import re
import subprocess

from cluster import ONE_CHAIN
import control as control_mod
from control import connect_unix

MAP = ("epoch 1\nslots 8\ncraq off\n"
       "node 1 10.99.0.1 02:ca:7e:00:00:01\n"
       "node 2 10.99.0.2 02:ca:7e:00:00:02\n"
       "node 3 10.99.0.3 02:ca:7e:00:00:03\n"
       "chain 1 1 2 3\nassign all roundrobin\n")


def version_of(binary):
    p = subprocess.run([binary, "--version"], capture_output=True, text=True,
                       timeout=30)
    assert p.returncode == 0, p
    name, version = p.stdout.split()
    return version


def column(text, name):
    """One column of a catenactl table, cut at the header's offsets (cells
    may hold blanks: "7 ms ago")."""
    lines = [l for l in text.splitlines() if l.strip()]
    head = lines[0]
    assert name in head.split(), "no column %s in:\n%s" % (name, text)
    start = head.index(" " + name + " ") + 1 if not head.startswith(name) else 0
    nxt = head.find(" ", start + len(name))
    while 0 <= nxt < len(head) and head[nxt] == " ":
        nxt += 1
    end = nxt if nxt > start + len(name) and nxt < len(head) else None
    return [l[start:end].strip() for l in lines[1:]
            if not re.match(r"\d+ nodes?, ", l)]


def kv_line(text, label):
    for l in text.splitlines():
        if l.startswith(label + "  "):
            return l[len(label):].strip()
    raise AssertionError("no %r line in:\n%s" % (label, text))


def test_nodes_and_status_show_the_versions_of_a_running_cluster(
        make_control_cluster):
    c = make_control_cluster(chains=ONE_CHAIN, clients=1)
    ctl = c.ctl
    node_v = version_of(ctl.bins["node"])
    ctl_v = version_of(ctl.bins["control"])
    assert node_v == ctl_v, (node_v, ctl_v)   # one build

    nodes = ctl.ctl_json("nodes")
    assert [(n["id"], n["version"]) for n in nodes] == [
        (1, node_v), (2, node_v), (3, node_v)], nodes
    p = ctl.ctl("nodes")
    assert p.returncode == 0, p.stderr
    assert column(p.stdout, "VERSION") == [node_v] * 3, p.stdout

    st = ctl.ctl_json("status")
    assert st["version"] == ctl_v, st
    assert st["node_versions"] == [{"version": node_v, "nodes": [1, 2, 3]}], st
    p = ctl.ctl("status")
    assert p.returncode == 0, p.stderr
    assert kv_line(p.stdout, "version") == "catena-control " + ctl_v, p.stdout
    assert kv_line(p.stdout, "node versions") == "%s (nodes 1 2 3)" % node_v, \
        p.stdout


class Peer:
    """A raw node-channel client (no cluster secret)."""

    def __init__(self, path):
        self.s = connect_unix(path)
        self.s.settimeout(5.0)
        self.buf = b""

    def send(self, obj):
        self.s.sendall(json.dumps(obj).encode() + b"\n")

    def line(self):
        while b"\n" not in self.buf:
            chunk = self.s.recv(65536)
            if not chunk:
                return None
            self.buf += chunk
        l, self.buf = self.buf.split(b"\n", 1)
        return json.loads(l)

    def close(self):
        self.s.close()


def test_hellos_of_other_builds_are_grouped_and_bad_versions_refused(
        control_binaries, tmp_path):
    map_path = tmp_path / "three.map"
    map_path.write_text(MAP)
    # The raw peers never heartbeat: a long timeout keeps them up.
    ctl = control_mod.Control(control_binaries, tmp_path,
                              heartbeat_timeout_ms=60000)
    peers = []
    try:
        ctl.start(initial_map=str(map_path))
        ctl_v = version_of(control_binaries["control"])

        # Node 1 of another build, node 3 older than the field.
        p1 = Peer(ctl.node_sock)
        p1.send({"type": "hello", "node": 1, "epoch": 1, "boot": 11,
                 "version": "0.0.9+abc1234"})
        p3 = Peer(ctl.node_sock)
        p3.send({"type": "hello", "node": 3, "epoch": 1, "boot": 33})
        peers += [p1, p3]
        ctl.wait_for("nodes 1 and 3 up", lambda: [
            n["state"] for n in ctl.result("nodes")] == ["up", "new", "up"])

        # Not short printable text: refused, and node 2 stays unknown.
        for bad in (7, "0.1.0 with spaces", "x" * 64, "v\n1"):
            p2 = Peer(ctl.node_sock)
            p2.send({"type": "hello", "node": 2, "epoch": 1, "boot": 22,
                     "version": bad})
            err = p2.line()
            assert err["type"] == "error" and '"version"' in err["error"], \
                (bad, err)
            p2.close()

        nodes = {n["id"]: n for n in ctl.ctl_json("nodes")}
        assert nodes[1]["version"] == "0.0.9+abc1234", nodes[1]
        assert nodes[2]["version"] is None, nodes[2]
        assert nodes[3]["version"] is None, nodes[3]
        p = ctl.ctl("nodes")
        assert column(p.stdout, "VERSION") == ["0.0.9+abc1234", "-", "-"], \
            p.stdout

        st = ctl.ctl_json("status")
        assert st["version"] == ctl_v, st
        assert st["node_versions"] == [
            {"version": "0.0.9+abc1234", "nodes": [1]},
            {"version": None, "nodes": [2, 3]}], st
        p = ctl.ctl("status")
        line = kv_line(p.stdout, "node versions")
        assert line.startswith("0.0.9+abc1234 (node 1); unknown") and \
            "(nodes 2 3)" in line and line.endswith(": MIXED"), p.stdout
    finally:
        for p in peers:
            p.close()
        problems = ctl.teardown()
    assert not problems, problems
