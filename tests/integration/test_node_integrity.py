"""
Scenario: datagrams a kernel socket would never send, made by hand from a
client namespace (rawframe.py): a PUT whose UDP checksum does not match
its bytes (a payload corrupted in flight on a port that checks nothing,
as af_packet is), one with no checksum at all, one sent to the broadcast
MAC, one split into IP fragments. The node stores none it must refuse,
counts each refusal, and keeps answering honest clients.
"""

import json
import os

import catena_proto as cp
import netns

HERE = os.path.dirname(os.path.abspath(__file__))
RAWFRAME = os.path.join(HERE, "rawframe.py")


def mac_of(ns, iface):
    p = netns.run(*netns.nsexec(ns, "cat", "/sys/class/net/%s/address" % iface))
    return p.stdout.strip()


def send_raw(h, msg, cksum="ok", dst_mac=None, frag=0, src_port=40001):
    cl = h.clients[0]
    args = {"iface": cl["iface"], "src_mac": mac_of(cl["ns"], cl["iface"]),
            "dst_mac": dst_mac or mac_of(h.topo.nodes[0]["ns"], "vn1"),
            "src_ip": cl["ip"], "dst_ip": h.node_ip, "src_port": src_port,
            "dst_port": 7470, "payload": msg.encode().hex(), "cksum": cksum,
            "frag": frag}
    p = netns.run(*netns.nsexec(cl["ns"], "/usr/bin/python3", RAWFRAME,
                                json.dumps(args)))
    return json.loads(p.stdout)["sent"]


def put(key, value, seq):
    return cp.Msg(op=cp.OP_PUT, key=key, value=value,
                  slot=cp.slot_of(key, 1024), client_id=0x1A7E, seq=seq)


def get(h, key):
    r = h.ops([{"op": "get", "key": key.decode()}])[0]
    return r["status_name"], r.get("value_text")


def stored_after(h, key, value, **kw):
    before = h.node.stats()
    send_raw(h, put(key, value, kw.pop("seq")), **kw)
    # The ARP-free raw path still needs the node's answer to land (if it
    # answers): give it the time a GET takes, then look.
    st = get(h, key)
    return st, before, h.node.stats()


def test_a_put_with_a_wrong_udp_checksum_is_not_stored_and_counted(cluster):
    h = cluster
    st, b, a = stored_after(h, b"ck-good", b"honest", seq=1)
    assert st == ("OK", "honest"), st        # the raw path itself works
    assert h.node.delta(b, a, "rx_l4_cksum_sw") >= 1, "software check ran"
    st, b, a = stored_after(h, b"ck-bad", b"corrupt", seq=2, cksum="bad")
    assert st[0] == "NOT_FOUND", st
    assert h.node.delta(b, a, "drop_l4_cksum_bad") == 1, {
        k: h.node.delta(b, a, k) for k in h.node.drops(a)}


def test_a_put_without_a_checksum_is_taken_unless_configured_otherwise(harness):
    h = harness
    h.setup(clients=1)
    h.start_node()
    st, b, a = stored_after(h, b"ck-zero", b"nosum", seq=3, cksum="zero")
    assert st == ("OK", "nosum"), st
    assert h.node.delta(b, a, "rx_l4_cksum_zero") == 1
    h.node.stop()
    h.start_node(conf=lambda c: c.replace("[node]\n",
                                          "[node]\nudp_checksum_zero = drop\n"))
    st, b, a = stored_after(h, b"ck-zero2", b"nosum", seq=4, cksum="zero")
    assert st[0] == "NOT_FOUND", st
    assert h.node.delta(b, a, "drop_l4_cksum_zero") == 1


def test_a_request_to_the_broadcast_mac_is_not_served(cluster):
    h = cluster
    st, b, a = stored_after(h, b"ck-bcast", b"everyone", seq=5,
                            dst_mac="ff:ff:ff:ff:ff:ff")
    assert st[0] == "NOT_FOUND", st
    assert h.node.delta(b, a, "drop_l2_broadcast") == 1
    # ARP is still answered: a fresh client (empty ARP cache) gets through.
    assert get(h, b"ck-bcast")[0] == "NOT_FOUND"


def test_ip_fragments_behave_as_protocol_md_says(cluster):
    # net_af_packet's kernel socket reassembles fragments before the node
    # sees them (docs/PROTOCOL.md, "Transport"): a datagram that came in
    # two fragments is one datagram to the node, and its checksum is
    # checked over the whole of it.
    h = cluster
    st, b, a = stored_after(h, b"ck-frag", b"x" * 40, seq=6, frag=32)
    assert st == ("OK", "x" * 40), st
    assert h.node.delta(b, a, "drop_ip_fragment") == 0
    st, b, a = stored_after(h, b"ck-frag-bad", b"y" * 40, seq=7, frag=32,
                            cksum="bad")
    assert st[0] == "NOT_FOUND", st
    assert h.node.delta(b, a, "drop_l4_cksum_bad") == 1
    # Reassembled past the MTU: it does not fit af_packet's ring frame, so
    # the kernel drops it before the node (were it delivered, the node
    # would drop it as drop_ip_over_mtu). Never stored either way.
    st, b, a = stored_after(h, b"ck-frag-big", b"z" * 1900, seq=8, frag=1000)
    assert st[0] == "NOT_FOUND", st
    assert h.node.delta(b, a, "requests_put") == 0, "it reached no request"
