"""
Scenario (issue 13, item 1): the data network with a cluster secret. A
host that is not a member, in its own namespace on the data segment, forges
replication frames with a member's source IP *and* MAC (so the map's MAC
check is defeated), the current epoch and the slot's next sequence number:
a PUT kind from "node 2" to the tail (middle to tail) and a delete kind
from "node 1" to the middle (head to middle), once without a link trailer
and once with a made-up one. Without link tags the tail would commit the
forged PUT and drop the honest write after it as a duplicate. With them,
nothing is applied anywhere and each refusal is counted by its cause; the
honest writes after them are readable on every replica.

Then the same host replays genuine datagrams it captured off the wire: one
of the current epoch (refused as a replay) and one from two epochs back
(refused: no key of that epoch); the honest write after them commits on
every replica.
"""

import json
import os
import struct
import subprocess

import catena_proto as cp
import netns
from cluster import ONE_CHAIN, mac_of
from test_control_auth import write_secret

HERE = os.path.dirname(os.path.abspath(__file__))
RAWFRAME = os.path.join(HERE, "rawframe.py")
RAWCAPTURE = os.path.join(HERE, "rawcapture.py")
PYTHON = "/usr/bin/python3"
OP_FWD = 0x41


def forged_fwd(key, value, seq, kind, epoch, slots=1024):
    ext = struct.pack("<BBHI6sHQ", kind, cp.OP_PUT if kind == 1 else cp.OP_DEL,
                      40000, 0x0A0A0A0A, b"\x02\0\0\0\0\x01", 0, seq)
    return cp.Msg(op=OP_FWD, key=key, value=ext + (value if kind == 1 else b""),
                  slot=cp.slot_of(key, slots), epoch=epoch, client_id=0xF0F0,
                  seq=9, arg=seq)


def fake_trailer(epoch, counter=1 << 62):
    """A trailer of the right form whose tag nobody made."""
    return b"LA\x01\x00" + struct.pack("<IQ", epoch, counter) + os.urandom(16)


def client_iface(c):
    cl = c.topo.clients[0]
    return cl["ns"], cl["iface"]


def send_as(c, member, to, payload):
    """One frame from the client namespace with member's IP and MAC."""
    ns, iface = client_iface(c)
    args = {"iface": iface, "src_mac": mac_of(member), "dst_mac": mac_of(to),
            "src_ip": c.ip(member), "dst_ip": c.ip(to), "src_port": 7470,
            "dst_port": 7470, "payload": payload.hex(), "cksum": "ok"}
    netns.run(*netns.nsexec(ns, PYTHON, RAWFRAME, json.dumps(args)))


def epoch_of(c):
    return c.ctl.ctl_json("status")["epoch"]


def secret_cluster(make_control_cluster, tmp_path):
    good = write_secret(str(tmp_path / "cluster.secret"))
    c = make_control_cluster(chains=ONE_CHAIN, clients=1,
                             control_conf="secret_file = %s\n" % good,
                             conf_extra="secret_file = %s\n" % good)
    # The forger's frames carry members' MACs: the bridge must not learn
    # them on the forger's port, or it would send the members' own
    # traffic there (and drop the next forged frame to that member as
    # bound back out of its ingress port) until they speak again.
    netns.run(*netns.nsexec(c.topo.bridge_ns, "bridge", "link", "set", "dev",
                            "p-c1", "learning", "off"))
    return c


def deltas(c, before, after, i, names):
    d = {k: c.nodes[i].delta(before[i], after[i], k) for k in names}
    # Every other counter that moved, for the failure message.
    d["moved"] = {k: c.nodes[i].delta(before[i], after[i], k)
                  for k in after[i] if isinstance(after[i][k], int) and
                  k not in names and c.nodes[i].delta(before[i], after[i], k)}
    return d


AUTH = ["repl_auth_missing", "repl_auth_bad_tag", "repl_auth_replay",
        "repl_auth_unknown_epoch", "repl_fwd_applied"]


def test_forged_fwds_with_a_members_ip_and_mac_change_nothing_and_are_counted(
        make_control_cluster, tmp_path):
    c = secret_cluster(make_control_cluster, tmp_path)
    res = c.ops([{"op": "put", "key": "victim", "value": "v1"},
                 {"op": "put", "key": "gone", "value": "keep"}])["results"]
    assert [r["status_name"] for r in res] == ["OK", "OK"], res
    ver = {r["key_text"]: r["arg"] for r in res}
    epoch = epoch_of(c)
    c.quiesce(timeout=10)
    before = {i: c.stats(i) for i in (1, 2, 3)}

    # Middle -> tail, PUT kind, no trailer at all.
    send_as(c, 2, 3, forged_fwd(b"victim", b"forged", ver["victim"] + 1, 1,
                                epoch).encode())
    # Head -> middle, delete kind, no trailer.
    send_as(c, 1, 2, forged_fwd(b"gone", b"", ver["gone"] + 1, 2,
                                epoch).encode())
    # The same with a trailer of the current epoch and a made-up tag.
    send_as(c, 2, 3, forged_fwd(b"victim", b"forged", ver["victim"] + 1, 1,
                                epoch).encode() + fake_trailer(epoch))
    send_as(c, 1, 2, forged_fwd(b"gone", b"", ver["gone"] + 1, 2,
                                epoch).encode() + fake_trailer(epoch))
    # And one of an epoch no node has keys of.
    send_as(c, 2, 3, forged_fwd(b"victim", b"forged", ver["victim"] + 1, 1,
                                epoch).encode() + fake_trailer(epoch + 50))
    after = {i: c.stats(i) for i in (1, 2, 3)}

    d2 = deltas(c, before, after, 2, AUTH)
    d3 = deltas(c, before, after, 3, AUTH)
    # Before link tags the tail applied (and committed) the forged PUT.
    assert d2["repl_fwd_applied"] == 0 and d3["repl_fwd_applied"] == 0, (d2, d3)
    assert before[3]["repl_auth_ok"] > 0, before[3]
    assert d3["repl_auth_missing"] == 1 and d3["repl_auth_bad_tag"] == 1, d3
    assert d3["repl_auth_unknown_epoch"] == 1, d3
    assert d2["repl_auth_missing"] == 1 and d2["repl_auth_bad_tag"] == 1, d2
    for i, d in ((2, d2), (3, d3)):
        assert d["repl_fwd_applied"] == 0, (i, d)
        # Not the MAC check: the forger had the member's MAC.
        assert c.nodes[i].delta(before[i], after[i], "drop_repl_wrong_mac") == 0
        # Refusals are drops like any other.
        assert c.nodes[i].delta(before[i], after[i], "drops_total") >= 2, (i, d)

    # The honest writes after the forgeries commit and are read back.
    res = c.ops([{"op": "put", "key": "victim", "value": "v2"},
                 {"op": "get", "key": "victim"},
                 {"op": "get", "key": "gone"}])["results"]
    assert res[0]["status_name"] == "OK", res[0]
    assert [(r["status_name"], r.get("value_text")) for r in res[1:]] == [
        ("OK", "v2"), ("OK", "keep")], res
    c.quiesce(timeout=10)
    c.check_replicas()

    # Each node says what it checks, and catena-control too.
    port = c.nodes[3].telemetry("/catena/port")["/catena/port"]
    assert port["data_auth"].startswith("siphash-2-4-128 link tags"), port
    assert port["value_max"] == 1408 - 32, port
    assert "data network authentication: siphash-2-4-128" in c.nodes[3].stderr()
    st = c.ctl.ctl_json("status")
    assert st["data_auth"].startswith("siphash-2-4-128"), st
    assert st["value_max"] == 1376, st
    assert "mtu - 124 - key length" in st["value_limit"], st


def start_capture(c, on, src, key):
    """Capture, on node `on`'s own port, the first FWD from node `src`
    that carries key."""
    p = subprocess.Popen(netns.nsexec(c.ns(on), PYTHON, RAWCAPTURE, json.dumps(
        {"capture": "vn%d" % on, "src_ip": c.ip(src), "dst_port": 7470,
         "op": OP_FWD, "contains": key.hex(), "timeout": 15})),
        stdout=subprocess.PIPE, text=True)
    assert json.loads(p.stdout.readline()) == {"ready": True}
    return p


def captured(p):
    out = json.loads(p.stdout.readline())
    p.wait(timeout=5)
    assert out["frame"] is not None, "no FWD captured"
    return out["frame"]


def replay(c, frame):
    ns, iface = client_iface(c)
    netns.run(*netns.nsexec(ns, PYTHON, RAWCAPTURE, json.dumps(
        {"send": iface, "frame": frame})))


def test_replayed_genuine_datagrams_are_refused_same_epoch_and_older(
        make_control_cluster, tmp_path):
    c = secret_cluster(make_control_cluster, tmp_path)
    assert c.ops([{"op": "put", "key": "warm", "value": "x"}])["results"][0][
        "status_name"] == "OK"

    # A genuine FWD middle -> tail, taken off the wire at the tail.
    cap = start_capture(c, 3, 2, b"replayed")
    res = c.ops([{"op": "put", "key": "replayed", "value": "v1"}])["results"]
    assert res[0]["status_name"] == "OK", res
    old = captured(cap)
    c.quiesce(timeout=10)

    # Same epoch: the very datagram the tail took already.
    before = {i: c.stats(i) for i in (3,)}
    replay(c, old)
    after = {i: c.stats(i) for i in (3,)}
    d = deltas(c, before, after, 3, AUTH)
    # Refused before the engine, which would drop it as a duplicate.
    assert d["repl_auth_replay"] == 1 and d["repl_fwd_applied"] == 0, d

    # Two epochs later (a spare added, then removed) the old key is gone.
    e0 = epoch_of(c)
    c.ctl.ctl_json("node", "add", "9", c.ip(49), "02:ca:7e:00:00:09")
    c.ctl.ctl_json("node", "remove", "9")
    c.ctl.wait_applied(e0 + 2, [1, 2, 3], timeout=15)
    before = {i: c.stats(i) for i in (3,)}
    replay(c, old)
    after = {i: c.stats(i) for i in (3,)}
    d = deltas(c, before, after, 3, AUTH)
    assert d["repl_auth_unknown_epoch"] == 1 and d["repl_fwd_applied"] == 0, d

    # The honest write after the replays is on every replica.
    res = c.ops([{"op": "put", "key": "replayed", "value": "v2"},
                 {"op": "get", "key": "replayed"}])["results"]
    assert res[0]["status_name"] == "OK", res
    assert (res[1]["status_name"], res[1].get("value_text")) == ("OK", "v2"), res
    c.quiesce(timeout=10)
    c.check_replicas()


def test_link_seed_is_made_once_kept_private_and_survives_a_control_restart(
        make_control_cluster, tmp_path):
    c = secret_cluster(make_control_cluster, tmp_path)
    ctl = c.ctl
    path = os.path.join(ctl.state_dir, "map.json")
    doc = json.load(open(path))
    assert len(doc["link_seed"]) == 64, doc.keys()
    assert os.stat(path).st_mode & 0o077 == 0, oct(os.stat(path).st_mode)
    assert "link keys: new seed stored" in ctl.stderr()
    keys = {i: c.nodes[i].telemetry("/catena/control")["/catena/control"][
        "link_keys_epoch"] for i in (1, 2, 3)}
    assert keys == {i: epoch_of(c) for i in (1, 2, 3)}, keys

    # A restart keeps the seed: the nodes' keys of this epoch stay right,
    # and the next epoch's keys come from the same seed.
    assert ctl.stop() == 0
    ctl.start()
    assert json.load(open(path))["link_seed"] == doc["link_seed"]
    assert "new seed" not in ctl.stderr(), ctl.stderr()[-2000:]
    c.ctl.wait_applied(epoch_of(c), [1, 2, 3], timeout=15)
    e0 = epoch_of(c)
    ctl.ctl_json("node", "add", "9", c.ip(49), "02:ca:7e:00:00:09")
    c.ctl.wait_applied(e0 + 1, [1, 2, 3], timeout=15)
    before = {i: c.stats(i) for i in (1, 2, 3)}
    res = c.ops([{"op": "put", "key": "after-restart", "value": "v"},
                 {"op": "get", "key": "after-restart"}])["results"]
    assert [(r["status_name"], r.get("value_text")) for r in res][1] == (
        "OK", "v"), res
    after = {i: c.stats(i) for i in (1, 2, 3)}
    for i in (2, 3):
        d = deltas(c, before, after, i, AUTH + ["repl_auth_ok"])
        assert d["repl_auth_ok"] > 0 and d["repl_auth_bad_tag"] == 0, (i, d)
        assert d["repl_auth_unknown_epoch"] == 0, (i, d)
