"""
Scenario (issue 13's attack, without a spoofed MAC): a host on the data
segment that is not a member sends FWDs with a member's source IP and its
own MAC, the current epoch and the slot's next sequence number: a PUT kind
from "node 2" to the tail (middle to tail) and a delete kind from "node 1"
to the middle (head to middle). Before, the tail applied and committed the
forged PUT and an honest client's next write was then dropped as a
duplicate. Now the frame's source MAC is checked against the map: both
forgeries are dropped and counted (drop_repl_wrong_mac), the honest writes
after them are readable on every replica, the replicas agree.

A forger that also spoofs the member's MAC is not stopped by this check:
that needs the keyed tags of docs/HARDENING.md (not built yet).
"""

import json
import os
import struct

import catena_proto as cp
import netns
from cluster import ONE_CHAIN, mac_of

HERE = os.path.dirname(os.path.abspath(__file__))
RAWFRAME = os.path.join(HERE, "rawframe.py")


def forged_fwd(key, value, seq, kind, slots=1024):
    ext = struct.pack("<BBHI6sHQ", kind, cp.OP_PUT if kind == 1 else cp.OP_DEL,
                      40000, 0x0A0A0A0A, b"\x02\0\0\0\0\x01", 0, seq)
    return cp.Msg(op=0x41, key=key, value=ext + (value if kind == 1 else b""),
                  slot=cp.slot_of(key, slots), epoch=1, client_id=0xF0F0,
                  seq=9, arg=seq)


def send_as(c, member, to, msg):
    cl = c.topo.clients[0]
    mine = netns.run(*netns.nsexec(cl["ns"], "cat", "/sys/class/net/%s/address"
                                   % cl["iface"])).stdout.strip()
    args = {"iface": cl["iface"], "src_mac": mine, "dst_mac": mac_of(to),
            "src_ip": c.ip(member), "dst_ip": c.ip(to), "src_port": 7470,
            "dst_port": 7470, "payload": msg.encode().hex(), "cksum": "ok"}
    netns.run(*netns.nsexec(cl["ns"], "/usr/bin/python3", RAWFRAME,
                            json.dumps(args)))


def test_forged_fwds_from_a_non_member_change_nothing_and_are_counted(make_cluster):
    c = make_cluster(chains=ONE_CHAIN, clients=1)
    res = c.ops([{"op": "put", "key": "victim", "value": "v1"},
                 {"op": "put", "key": "gone", "value": "keep"}])["results"]
    assert [r["status_name"] for r in res] == ["OK", "OK"], res
    ver = {r["key_text"]: r["arg"] for r in res}
    before = {i: c.stats(i) for i in (2, 3)}
    # Middle -> tail, PUT kind, the slot's next sequence number.
    send_as(c, 2, 3, forged_fwd(b"victim", b"forged", ver["victim"] + 1, 1))
    # Head -> middle, delete kind.
    send_as(c, 1, 2, forged_fwd(b"gone", b"", ver["gone"] + 1, 2))
    after = {i: c.stats(i) for i in (2, 3)}
    for i in (2, 3):
        assert c.nodes[i].delta(before[i], after[i], "drop_repl_wrong_mac") == 1, (
            i, {k: c.nodes[i].delta(before[i], after[i], k)
                for k in c.nodes[i].drops(after[i])})
        assert c.nodes[i].delta(before[i], after[i], "repl_fwd_applied") == 0
    # The honest writes after the forgeries commit and are read back.
    res = c.ops([{"op": "put", "key": "victim", "value": "v2"},
                 {"op": "get", "key": "victim"},
                 {"op": "get", "key": "gone"}])["results"]
    assert [(r["status_name"], r.get("value_text")) for r in res[1:]] == [
        ("OK", "v2"), ("OK", "keep")], res
    assert res[0]["status_name"] == "OK", res[0]
    c.quiesce(timeout=10)
    c.check_replicas()
    # Each node says plainly how little it checks.
    port = c.nodes[3].telemetry("/catena/port")["/catena/port"]
    assert port["data_auth"].startswith("none: map IP and MAC only"), port
    assert "data network authentication: none" in c.nodes[3].stderr(), \
        c.nodes[3].stderr()[-2000:]
