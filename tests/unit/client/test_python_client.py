#!/usr/bin/python3
"""
Unit tests of the Python client (client/python/catena) against a fake
cluster on loopback UDP (fake_cluster.py): wire vectors shared with the C
tests, map parsing, routing, retries with the same request id, RETRY
backoff, MOVED and map refresh, probes on silence, budgets and errors.
Run: /usr/bin/python3 tests/unit/client/test_python_client.py
"""

import json
import os
import socket
import subprocess
import sys
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "client", "python"))
sys.path.insert(0, HERE)

import catena  # noqa: E402
from catena import wire as W  # noqa: E402
from fake_cluster import FakeCluster  # noqa: E402


class CrcVectors(unittest.TestCase):
    """The vectors of tests/unit/replication/test_hash.c
    (test_crc32c_known_vectors), so the Python and C hashes agree."""

    def test_check_values_and_rfc3720_b4(self):
        self.assertEqual(catena.crc32c(b"123456789"), 0xE3069283)
        self.assertEqual(catena.crc32c(b""), 0)
        self.assertEqual(catena.crc32c(bytes(32)), 0x8A9136AA)
        self.assertEqual(catena.crc32c(b"\xff" * 32), 0x62A8AB43)
        self.assertEqual(catena.crc32c(bytes(range(32))), 0x46DD794E)
        self.assertEqual(catena.crc32c(bytes(range(31, -1, -1))), 0x113FDB5C)
        self.assertEqual(catena.crc32c(b"a"), 0xC1D04330)

    def test_slot_is_crc_mod_slot_count(self):
        # test_hash.c test_slot_from_crc: 0xE3069283 in 1024 and 65536.
        self.assertEqual(catena.slot_of(b"123456789", 1024), 0x283)
        self.assertEqual(catena.slot_of(b"123456789", 65536), 0x9283)
        # docs/PROTOCOL.md's example.
        self.assertEqual(catena.crc32c(b"k"), 0xAA326B08)
        self.assertEqual(catena.slot_of(b"k", 1024), 776)


class WireFormat(unittest.TestCase):
    def test_protocol_md_example_put_encodes_byte_for_byte(self):
        m = W.Msg(op=W.OP_PUT, key=b"k", value=b"v", slot=776,
                  client_id=0x01020304, seq=7)
        want = bytes.fromhex(
            "7eca010200000803" "0000000004030201"
            "0700000000000000" "0000000000000000"
            "0100000001000000" "6b76")
        self.assertEqual(m.encode(), want)
        back, n = W.decode(want)
        self.assertEqual((n, back.key, back.value, back.slot, back.seq),
                         (42, b"k", b"v", 776, 7))

    def test_decode_rejects_what_a_node_drops(self):
        good = W.Msg(op=W.OP_GET, key=b"k").encode()
        for bad, why in ((good[:39], "short"),
                         (b"\x00" + good[1:], "bad_magic"),
                         (good[:2] + b"\x02" + good[3:], "bad_version"),
                         (good[:4] + b"\x80" + good[5:], "reserved"),
                         (good[:-1], "truncated")):
            with self.assertRaises(W.DecodeError) as cm:
                W.decode_all(bad)
            self.assertEqual(cm.exception.reason, why)

    def test_value_max_matches_protocol_md(self):
        self.assertEqual(W.value_max(1500, 16), 1392)
        self.assertEqual(W.value_max(1500, 250), 1158)


class MapParsing(unittest.TestCase):
    TEXT = ("epoch 3\nslots 8\ncraq off\n"
            "node 1 10.0.0.1 02:ca:7e:00:00:01\nnode 2 10.0.0.2:7480\n"
            "workers 2 4\nchain 1 1 2\nchain 2 2 1\n"
            "assign 0-3 1\nassign 4-7 2\n")

    def test_routes_and_worker_ports(self):
        m = catena.ClusterMap(self.TEXT)
        self.assertEqual((m.epoch, m.slots), (3, 8))
        self.assertEqual((m.head(1), m.tail(1)), (1, 2))
        self.assertEqual((m.head(5), m.tail(5)), (2, 1))
        self.assertEqual(m.addr_for(1, 5), ("10.0.0.1", 7470))
        # workers 2 4: slot s on PORT + 1 + (s mod 4)
        self.assertEqual(m.addr_for(2, 5), ("10.0.0.2", 7480 + 1 + 1))

    def test_roundrobin(self):
        m = catena.ClusterMap("epoch 1\nslots 4\nnode 1 1.1.1.1\n"
                              "node 2 1.1.1.2\nchain 7 1\nchain 3 2\n"
                              "assign all roundrobin\n")
        self.assertEqual(m.slot_chain, [7, 3, 7, 3])

    def test_bad_maps_say_what_is_wrong(self):
        for text, words in (
                ("slots 4\n", "no epoch"),
                ("epoch 1\nslots 6\n", "power of two"),
                ("epoch 1\nslots 2\nnode 1 1.1.1.1\nchain 1 1\n"
                 "assign 0 1\n", "slot 1 unassigned"),
                ("epoch 1\nslots 1\nchain 1 9\nassign 0 1\n",
                 "unknown node 9"),
                ("epoch 1\nslots 1\nfrob 2\n", "unknown directive"),
                ("epoch x\n", "line 1")):
            with self.assertRaises(catena.MapError) as cm:
                catena.ClusterMap(text)
            self.assertIn(words, str(cm.exception))


class BadArguments(unittest.TestCase):
    def test_bad_arguments_are_refused_before_anything_is_sent(self):
        for kw, words in (({"seeds": ""}, "empty host"),
                          ({"seeds": "h:0"}, "outside 1..65535"),
                          ({"seeds": "h:x"}, "bad port"),
                          ({"seeds": []}, "no seed"),
                          ({"seeds": "127.0.0.1", "timeout": 0}, "timeout"),
                          ({"seeds": "127.0.0.1", "retries": -2}, "retries"),
                          ({"seeds": "127.0.0.1", "mtu": 40}, "mtu"),
                          ({"seeds": "127.0.0.1", "deadline": -1},
                           "deadline")):
            with self.assertRaises(catena.InvalidArgument) as cm:
                catena.Client(**kw)
            self.assertIn(words, str(cm.exception))
        with self.assertRaises(catena.Unreachable) as cm:
            catena.Client("no-such-host.invalid")
        self.assertIn("cannot resolve", str(cm.exception))

    def test_bad_keys_and_values(self):
        with catena.Client("127.0.0.1:9") as c:
            with self.assertRaisesRegex(catena.InvalidArgument, "empty key"):
                c.get(b"")
            with self.assertRaisesRegex(catena.TooLarge, "at most 250"):
                c.get(b"x" * 251)
            with self.assertRaisesRegex(catena.TooLarge, "at most 1391"):
                c.put(b"x" * 17, b"v" * 1392)
            with self.assertRaisesRegex(catena.InvalidArgument, "bytes or"):
                c.put(b"k", 5)
            with self.assertRaisesRegex(catena.InvalidArgument, "exactly"):
                c.cas(b"k", b"v")
            with self.assertRaisesRegex(catena.InvalidArgument, "64-bit"):
                c.incr(b"k", 1 << 63)
        with self.assertRaisesRegex(catena.InvalidArgument, "closed"):
            c.get(b"k")


class WithCluster(unittest.TestCase):
    NODES = (1, 2, 3)
    CHAINS = None
    KW = {}

    def setUp(self):
        self.fc = FakeCluster(nodes=self.NODES, chains=self.CHAINS,
                              **self.KW)

    def tearDown(self):
        self.fc.close()

    def client(self, *ids, **kw):
        kw.setdefault("timeout", 0.05)
        c = catena.Client(self.fc.seeds(*ids), **kw)
        self.addCleanup(c.close)
        return c


class Operations(WithCluster):
    def test_every_op_and_its_result(self):
        c = self.client(1)
        self.assertIsNone(c.get("k"))
        self.assertEqual(c.get("k", with_version=True), (None, 0))
        v1 = c.put("k", b"10")
        self.assertEqual(c.get("k"), b"10")
        self.assertEqual(c.get("k", with_version=True), (b"10", v1))
        self.assertEqual(c.incr("k", 5), 15)
        self.assertEqual(c.incr("k", -20), -5)
        v = c.get("k", with_version=True)[1]
        with self.assertRaises(catena.CasFailed) as cm:
            c.cas("k", b"x", version=v + 100)
        self.assertEqual(cm.exception.current_version, v)
        self.assertIn("current version %d" % v, str(cm.exception))
        v2 = c.cas("k", b"x", version=v)
        self.assertGreater(v2, v)
        c.cas("k", b"y", expected=b"x")
        with self.assertRaises(catena.CasFailed):
            c.cas("k", b"z", expected=b"nope")
        with self.assertRaises(catena.NotFound):
            c.cas("absent", b"z", expected=b"x")
        self.assertEqual(c.cas("new", b"1", version=0), c.get(
            "new", with_version=True)[1])
        c.put("txt", b"abc")
        with self.assertRaisesRegex(catena.NotANumber, "INCR b'txt'"):
            c.incr("txt")
        self.assertIsNotNone(c.delete("k"))
        self.assertIsNone(c.delete("k"))
        p = c.ping()
        self.assertEqual((p.slot_count, p.epoch), (64, 1))
        self.assertEqual(tuple(p), (64, 1))

    def test_context_manager_closes_the_socket(self):
        with catena.Client(self.fc.seeds(1)) as c:
            c.put("a", b"b")
        self.assertIsNone(c._sock)


class Routing(WithCluster):
    CHAINS = {1: [1, 2, 3]}

    def test_writes_go_to_the_head_reads_to_the_tail(self):
        c = self.client(2)
        c.put("k", b"v")
        self.assertEqual(c.get("k"), b"v")
        puts = [i for i, m, _, _ in self.fc.log if m.op == W.OP_PUT]
        gets = [i for i, m, _, _ in self.fc.log if m.op == W.OP_GET]
        self.assertEqual((puts, gets), ([1], [3]))
        # The map was fetched from the seed, in several chunks.
        self.assertGreater(len(self.fc.sent_to(2, W.OP_MAP_GET)), 2)
        self.assertEqual(self.fc.sent_to(1, W.OP_MAP_GET), [])

    def test_reply_from_the_tail_is_accepted_and_epoch_is_sent(self):
        c = self.client(1)
        tr = {}
        c.execute(W.OP_PUT, b"k", b"v", trace=tr)
        self.assertEqual((tr["nodes"], tr["from"]), ([1], 3))
        self.assertEqual(self.fc.sent_to(1, W.OP_PUT)[0].epoch, 1)

    def test_craq_spreads_reads_over_the_chain(self):
        self.fc.craq = True
        c = self.client(1)
        c.put("k", b"v")
        for _ in range(30):
            c.get("k")
        asked = {i for i, m, _, _ in self.fc.log if m.op == W.OP_GET}
        self.assertEqual(asked, {1, 2, 3})


class WorkerPorts(WithCluster):
    NODES = (1,)
    KW = {"workers": {1: 4}}

    def test_a_slot_goes_to_its_worker_port(self):
        c = self.client(1)
        for k in ("a", "b", "c", "d", "e"):
            c.put(k, b"v")
        base = self.fc.nodes[1].port
        for i, m, _, lport in self.fc.log:
            if m.op == W.OP_PUT:
                self.assertEqual(lport, base + 1 + m.slot % 4, m)
            else:
                self.assertEqual(lport, base, m)   # MAP_GET to PORT


class Retries(WithCluster):
    NODES = (1,)

    def test_lost_tries_are_resent_with_the_same_request_id(self):
        c = self.client(1)
        c.refresh_map()
        drops = [2]

        def hook(fc, node, m, src, lport):
            if m.op == W.OP_INCR and drops[0] > 0:
                drops[0] -= 1
                return "drop"
        self.fc.hook = hook
        self.assertEqual(c.incr("n", 3), 3)
        sent = self.fc.sent_to(1, W.OP_INCR)
        self.assertEqual(len(sent), 3)
        self.assertEqual({(m.client_id, m.seq) for m in sent},
                         {(c.client_id, sent[0].seq)})
        self.assertEqual(c.stats["resends"], 2)
        # The next request has a new, higher seq.
        c.incr("n")
        self.assertGreater(self.fc.sent_to(1, W.OP_INCR)[-1].seq,
                           sent[0].seq)

    def test_retry_status_backs_off_and_resends_the_same_id(self):
        c = self.client(1, timeout=0.2)
        c.refresh_map()
        times = []

        def hook(fc, node, m, src, lport):
            if m.op == W.OP_PUT:
                times.append(time.monotonic())
                if len(times) <= 3:
                    return [(node, fc.reply(m, W.ST_RETRY), src)]
        self.fc.hook = hook
        c.put("k", b"v")
        sent = self.fc.sent_to(1, W.OP_PUT)
        self.assertEqual(len({m.seq for m in sent}), 1)
        self.assertEqual(len(sent), 4)
        gaps = [b - a for a, b in zip(times, times[1:])]
        # 5, 10, 20 ms: growing pauses
        self.assertGreater(gaps[2], gaps[0])
        self.assertGreaterEqual(gaps[0], 0.004)

    def test_busy_when_retry_outlasts_the_budget(self):
        c = self.client(1, retries=2)
        c.refresh_map()
        self.fc.hook = lambda fc, n, m, s, lp: (
            [(n, fc.reply(m, W.ST_RETRY), s)] if m.op == W.OP_PUT else None)
        with self.assertRaisesRegex(catena.Busy, "PUT b'k': RETRY"):
            c.put("k", b"v")

    def test_timeout_says_a_write_may_have_been_applied(self):
        c = self.client(1, retries=2, timeout=0.03)
        c.refresh_map()
        self.fc.nodes[1].silent = True
        with self.assertRaises(catena.Timeout) as cm:
            c.put("k", b"v")
        self.assertTrue(cm.exception.maybe_applied)
        self.assertIn("may have been applied", str(cm.exception))
        self.assertEqual(len(self.fc.sent_to(1, W.OP_PUT)), 3)
        with self.assertRaises(catena.Timeout) as cm:
            c.get("k")
        self.assertFalse(cm.exception.maybe_applied)

    def test_default_budget_is_a_deadline_with_doubling_waits(self):
        c = self.client(1, timeout=0.05, deadline=0.6)
        c.refresh_map()
        self.fc.nodes[1].silent = True
        t0 = time.monotonic()
        with self.assertRaises(catena.Timeout):
            c.get("k")
        took = time.monotonic() - t0
        self.assertGreater(took, 0.55)
        self.assertLess(took, 1.0)
        # 0.05 + 0.1 + 0.2 + the rest: 4 tries, not 12.
        self.assertEqual(len(self.fc.sent_to(1, W.OP_GET)), 4)

    def test_outcome_unknown_is_an_error_that_says_so(self):
        c = self.client(1)
        c.refresh_map()
        self.fc.hook = lambda fc, n, m, s, lp: (
            [(n, fc.reply(m, W.ST_OUTCOME_UNKNOWN), s)]
            if m.op == W.OP_INCR else None)
        with self.assertRaises(catena.OutcomeUnknown) as cm:
            c.incr("k")
        self.assertIn("may have been applied", str(cm.exception))

    def test_late_and_foreign_replies_are_ignored(self):
        c = self.client(1)
        c.refresh_map()

        def hook(fc, node, m, src, lport):
            if m.op != W.OP_PUT:
                return None
            other_seq = fc.reply(m, W.ST_CAS_FAILED, 99)
            other_seq.seq -= 1
            other_key = fc.reply(m, W.ST_CAS_FAILED, 99)
            other_key.key = b"another"
            other_op = fc.reply(m, W.ST_CAS_FAILED, 99)
            other_op.op = W.OP_DEL
            good = fc.default(node, m, src)
            return [(node, x, src) for x in (other_seq, other_key,
                                              other_op)] + good
        self.fc.hook = hook
        v = c.put("k", b"v")
        self.assertEqual(v, 1)
        self.assertEqual(c.stats["stray"], 3)

    def test_a_flood_of_strays_does_not_stretch_a_try(self):
        c = self.client(1, retries=1, timeout=0.1)
        c.refresh_map()
        flood = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.addCleanup(flood.close)
        me = ("127.0.0.1", c._sock.getsockname()[1])
        junk = W.Msg(op=W.OP_GET, flags=W.F_REPLY, key=b"x",
                     client_id=c.client_id, seq=1).encode()

        def hook(fc, node, m, src, lport):
            if m.op == W.OP_GET:
                return "drop"
        self.fc.hook = hook
        stop = []

        def spray():
            # Two seconds at most, so that a client that waits for the
            # flood to end fails the check below instead of hanging.
            end = time.monotonic() + 2.0
            while not stop and time.monotonic() < end:
                flood.sendto(junk, me)
        t = threading.Thread(target=spray, daemon=True)
        t.start()
        t0 = time.monotonic()
        try:
            with self.assertRaises(catena.Timeout):
                c.get("k")
        finally:
            stop.append(1)
            t.join(2)
        self.assertLess(time.monotonic() - t0, 1.0)

    def test_wrong_slot_is_corrected_as_a_new_request(self):
        c = self.client(1)
        c.refresh_map()
        old = c.map
        self.fc.slots = 128       # the cluster's slot count is not the map's
        self.fc.epoch = 2
        key = next(k for k in (b"k%d" % i for i in range(100))
                   if W.slot_of(k, 64) != W.slot_of(k, 128))
        c.put(key, b"v")
        sent = self.fc.sent_to(1, W.OP_PUT)
        self.assertEqual(len(sent), 2)
        self.assertNotEqual(sent[0].seq, sent[1].seq)
        self.assertEqual(sent[1].slot, W.slot_of(key, 128))
        self.assertIsNot(c.map, old)

    def test_an_icmp_error_whose_errno_was_taken_does_not_spin_the_wait(self):
        c = self.client(1, retries=1, timeout=0.1)
        c.refresh_map()
        self.fc.nodes[1].silent = True
        # Queue an ICMP port unreachable on the client's socket, then take
        # its pending errno as a send would: the error queue still holds
        # it, and select calls the socket readable until it is read.
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()
        s.close()
        c._sock.sendto(b"x", closed)
        time.sleep(0.05)
        c._sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        done = []

        def run():
            try:
                c.get("k")
            except catena.Timeout:
                done.append(1)
        t = threading.Thread(target=run, daemon=True)
        t.start()
        t.join(3)
        self.assertEqual(done, [1], "the wait spun on the error queue")

    def test_icmp_refusal_is_unreachable_not_a_timeout(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        c = catena.Client("127.0.0.1:%d" % port, timeout=0.05, retries=2)
        self.addCleanup(c.close)
        with self.assertRaisesRegex(catena.Unreachable, "refused"):
            c.get("k")


class MapChanges(WithCluster):
    CHAINS = {1: [1, 2, 3]}

    def test_moved_from_a_newer_epoch_refetches_there_and_keeps_the_id(self):
        c = self.client(3, 2, 1)
        c.refresh_map()
        # Epoch 2: node 2 is the head, not node 1. Only node 1 has heard
        # (it says MOVED); the others still serve epoch 1, so the fetch
        # must start at the node that said MOVED.
        self.fc.chains = {1: [2, 3]}
        self.fc.epoch = 2
        self.fc.map_epoch_override = {2: 1, 3: 1}
        self.fc.hook = lambda fc, n, m, s, lp: (
            [(n, fc.reply(m, W.ST_MOVED, 2), s)]
            if n.id == 1 and m.op == W.OP_PUT else None)
        tr = {}
        c.execute(W.OP_PUT, b"k", b"v", trace=tr)
        self.assertEqual(tr["nodes"], [1, 2])
        self.assertEqual(tr["moved"], 1)
        self.assertEqual(c.map.epoch, 2)
        ops = [(i, m.op) for i, m, _, _ in self.fc.log]
        first_put = ops.index((1, W.OP_PUT))
        next_fetch = next(o for o in ops[first_put:] if o[1] == W.OP_MAP_GET)
        self.assertEqual(next_fetch[0], 1)
        first, second = self.fc.sent_to(1, W.OP_PUT)[0], \
            self.fc.sent_to(2, W.OP_PUT)[0]
        self.assertEqual(first.seq, second.seq)
        self.assertEqual((first.epoch, second.epoch), (1, 2))

    def test_moved_is_bounded(self):
        c = self.client(1)
        c.refresh_map()
        self.fc.hook = lambda fc, n, m, s, lp: (
            [(n, fc.reply(m, W.ST_MOVED, 1), s)]
            if m.op == W.OP_PUT else None)
        with self.assertRaises(catena.Moved):
            c.put("k", b"v")
        self.assertEqual(len(self.fc.sent_to(1, W.OP_PUT)), 5)

    def test_silent_tail_probe_finds_the_new_map_and_reroutes(self):
        c = self.client(1, 2, 3, timeout=0.05)
        c.put("k", b"v")
        self.fc.nodes[3].silent = True
        self.fc.chains = {1: [1, 2]}
        self.fc.epoch = 2
        tr = {}
        rep = c.execute(W.OP_GET, b"k", trace=tr)
        self.assertEqual(rep.value, b"v")
        self.assertEqual(tr["nodes"][0], 3)
        self.assertEqual(tr["nodes"][-1], 2)
        self.assertEqual(tr["from"], 2)
        self.assertGreater(c.stats["refresh_on_silence"], 0)
        seqs = {m.seq for i, m, _, _ in self.fc.log if m.op == W.OP_GET}
        self.assertEqual(len(seqs), 1)

    def test_map_that_changes_during_the_fetch_is_read_again(self):
        self.fc.chunk = 16
        changed = []

        def hook(fc, node, m, src, lport):
            if m.op == W.OP_MAP_GET and m.arg > 0 and not changed:
                changed.append(1)
                fc.epoch = 5
            return None
        self.fc.hook = hook
        c = self.client(1)
        c.refresh_map()
        self.assertEqual(c.map.epoch, 5)
        self.assertEqual(c.map.text.encode(), self.fc.map_text())

    def test_unusable_map_is_a_protocol_error(self):
        self.fc.map_text = lambda: b"epoch 1\nslots 3\n"
        c = self.client(1, retries=1)
        with self.assertRaisesRegex(catena.ProtocolError, "usable"):
            c.get("k")


class SingleOldNode(WithCluster):
    NODES = (1,)

    def test_node_without_map_get_is_used_alone_with_pings_slot_count(self):
        self.fc.hook = lambda fc, n, m, s, lp: (
            [(n, fc.reply(m, W.ST_UNKNOWN_OP), s)]
            if m.op == W.OP_MAP_GET else None)
        c = self.client(1)
        c.put("k", b"v")
        self.assertEqual(c.get("k"), b"v")
        self.assertIsNone(c.map)
        self.assertEqual(c.slot_count, 64)


class Installed(unittest.TestCase):
    """meson install puts the package where Debian's python3 imports it
    from (for the prefixes whose python path is known)."""

    def test_installed_where_python3_looks(self):
        root = os.environ.get("CATENA_BUILD_ROOT")
        if not root:
            self.skipTest("not run by meson (CATENA_BUILD_ROOT unset)")
        info = os.path.join(root, "meson-info")
        with open(os.path.join(info, "intro-installed.json")) as f:
            installed = json.load(f)
        with open(os.path.join(info, "intro-buildoptions.json")) as f:
            prefix = next(o["value"] for o in json.load(f)
                          if o["name"] == "prefix")
        dests = {os.path.dirname(d) for s, d in installed.items()
                 if s.endswith(os.path.join("client", "python", "catena",
                                            "__init__.py"))}
        self.assertEqual(len(dests), 1, installed)
        self.assertEqual(os.path.basename(next(iter(dests))), "catena")
        names = {os.path.basename(d) for s, d in installed.items()
                 if os.path.join("client", "python", "catena") in s}
        self.assertEqual(names, {"__init__.py", "client.py", "clustermap.py",
                                 "errors.py", "wire.py"})
        if prefix not in ("/usr", "/usr/local"):
            self.skipTest("prefix %s: PYTHONPATH is the user's" % prefix)
        path = subprocess.run(
            ["/usr/bin/python3", "-c", "import sys; print('\\n'.join(sys.path))"],
            capture_output=True, text=True, check=True).stdout.split("\n")
        self.assertIn(os.path.dirname(dests.pop()), path)


if __name__ == "__main__":
    unittest.main(verbosity=1)
