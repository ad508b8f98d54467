"""
Scenario: a script reads catena's hand-made JSON no more: catena-cli
--json, catena-wakeup-floor --json and the node's digests lines to
catena-control are all written by jansson. A strict parser (a key given
twice is an error) reads every form catena-cli prints -- each command, OK
and failed -- including a key and a value full of quotes, backslashes,
newlines, NULs and bytes that are not UTF-8, which come back exactly
(latin-1 code points in "key"/"value", the bytes in "key_hex"/"value_hex").
A node with 4096 slots, questioned by a stand-in control plane, answers a
digest_request in several lines, each a complete object within the line
limit, that together list every written slot once.
"""

import json
import os
import queue
import socket
import subprocess
import threading
import time

import netns

LINE_MAX = 65536
TAG_OVERHEAD = 65   # CAT_AUTH_LINE_OVERHEAD: 64 hex digits and a blank


def strict(text):
    """json.loads that fails on a key given twice in one object."""
    def pairs(items):
        keys = [k for k, _ in items]
        dup = sorted({k for k in keys if keys.count(k) > 1})
        assert not dup, "keys given twice: %s in %s" % (dup, text[:300])
        return dict(items)
    return json.loads(text, object_pairs_hook=pairs)


def cli(cluster, *args, stdin=None, want=0):
    """catena-cli --json ARGS (str or bytes) in the client namespace; the
    one JSON line of its stdout, parsed strictly."""
    cmd = netns.nsexec(cluster.clients[0]["ns"], cluster.bins["cli"], "-H",
                       cluster.node_ip, "--json",
                       *[a if isinstance(a, bytes) else str(a) for a in args])
    p = subprocess.run(cmd, input=stdin, capture_output=True, timeout=30)
    assert p.returncode == want, "catena-cli %r: exit %d, want %d\n%r\n%r" % (
        args, p.returncode, want, p.stdout, p.stderr)
    out = p.stdout.decode("utf-8")       # strict: jansson writes UTF-8
    assert out.endswith("\n") and out.count("\n") == 1, out
    return strict(out)


def latin1_rule(b):
    """What catena-cli shows for bytes: valid UTF-8 as it is, each other
    byte as the code point U+00XX."""
    out, i = [], 0
    while i < len(b):
        for n in (1, 2, 3, 4):
            try:
                out.append(b[i:i + n].decode("utf-8"))
                i += n
                break
            except UnicodeDecodeError:
                continue
        else:
            out.append(chr(b[i]))
            i += 1
    return "".join(out)


def test_every_cli_command_prints_strict_json(cluster):
    j = cli(cluster, "put", "k", "v1")
    assert list(j) == ["op", "status", "key", "version"], j
    assert (j["op"], j["status"], j["key"]) == ("PUT", "OK", "k"), j
    v1 = j["version"]
    assert isinstance(v1, int) and v1 > 0, j

    j = cli(cluster, "get", "k")
    assert j == {"op": "GET", "status": "OK", "key": "k", "value": "v1",
                 "version": v1}, j

    j = cli(cluster, "cas", "k", v1, "v2")
    assert (j["op"], j["status"], j["key"]) == ("CAS", "OK", "k"), j
    v2 = j["version"]
    assert v2 > v1, j
    j = cli(cluster, "cas", "k", v1, "v3", want=2)
    assert j == {"op": "CAS", "status": "CAS_FAILED", "key": "k",
                 "version": v2}, j
    j = cli(cluster, "cas", "--value", "k", "v2", "v4")
    assert j["status"] == "OK" and j["version"] > v2, j
    j = cli(cluster, "cas", "--value", "k", "v2", "v5", want=2)
    assert j["status"] == "CAS_FAILED" and isinstance(j["version"], int), j

    j = cli(cluster, "incr", "n", "-7")
    assert list(j) == ["op", "status", "key", "value", "version"], j
    assert (j["op"], j["value"]) == ("INCR", -7), j
    assert isinstance(j["version"], int), j
    j = cli(cluster, "incr", "k", want=3)
    assert j == {"op": "INCR", "status": "NOT_A_NUMBER", "key": "k"}, j

    j = cli(cluster, "del", "k")
    assert (j["op"], j["status"], j["key"]) == ("DEL", "OK", "k"), j
    j = cli(cluster, "get", "k", want=1)
    assert j == {"op": "GET", "status": "NOT_FOUND", "key": "k"}, j

    j = cli(cluster, "ping")
    assert j == {"op": "PING", "status": "OK", "slots": 1024, "epoch": 1}, j

    # Over the protocol limit: refused locally, said as the node would.
    j = cli(cluster, "put", "big", "-", stdin=b"x" * 70000, want=3)
    assert (j["op"], j["status"]) == ("PUT", "TOO_LARGE"), j
    assert isinstance(j["error"], str) and j["error"], j

    # Nothing listens on 7471: no reply, and the error says how long.
    j = cli(cluster, "-p", "7471", "-t", "50", "-r", "1", "get", "k", want=4)
    assert (j["status"], j["key"]) == ("TIMEOUT", "k"), j
    assert "2 tries of 50 ms" in j["error"], j

    # A host list that cannot be used: the open fails before any request.
    p = subprocess.run(netns.nsexec(cluster.clients[0]["ns"],
                                    cluster.bins["cli"], "-H", "10.0.0.1:0",
                                    "--json", "ping"),
                       capture_output=True, timeout=30)
    assert p.returncode == 64, (p.returncode, p.stdout, p.stderr)
    j = strict(p.stdout.decode())
    assert (j["op"], j["status"]) == ("PING", "ERROR") and j["error"], j


def test_cli_map_json_is_strict_and_typed(cluster):
    j = cli(cluster, "map")
    assert list(j) == ["op", "status", "epoch", "slots", "craq", "nodes",
                       "chains", "assign"], j
    assert (j["op"], j["status"], j["epoch"], j["slots"], j["craq"]) == (
        "MAP", "OK", 1, 1024, False), j
    assert len(j["nodes"]) == 1, j
    n = j["nodes"][0]
    assert n["id"] == 1 and n["ip"] == cluster.node_ip and n["port"] == 7470, n
    assert len(j["chains"]) == 1, j
    ch = j["chains"][0]
    assert ch == {"id": ch["id"], "nodes": [1], "head": 1, "tail": 1,
                  "slot_count": 1024}, ch
    # One chain: a single run of every slot, [first, last, chain id].
    assert j["assign"] == [[0, 1023, ch["id"]]], j["assign"]


def test_cli_keys_and_values_are_binary_safe_in_json(cluster):
    # argv cannot carry NUL, so the key has every other awkward byte.
    key = b'q"uo\\te\nline\ttab\x01\x7f\xff\xc3(caf\xc3\xa9'
    value = (b'"\\\n\r\x00\x1f\x7f\x80\xfe\xff\xed\xa0\x80\xf4\x90\x80\x80'
             b'\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 end')
    j = cli(cluster, "put", key, "-", stdin=value)
    assert j["status"] == "OK", j
    assert j["key"] == latin1_rule(key), (j["key"], latin1_rule(key))
    assert j["key_hex"] == key.hex(), j
    j = cli(cluster, "get", key)
    assert j["key"] == latin1_rule(key) and j["key_hex"] == key.hex(), j
    assert j["value"] == latin1_rule(value), (j["value"], latin1_rule(value))
    assert bytes.fromhex(j["value_hex"]) == value, j
    # The ambiguity the hex resolves: byte 0xE9 and a real "e-acute" are
    # one code point in "value"; only the bytes tell them apart.
    assert "\u00e9" in j["value"] and latin1_rule(b"\xe9") == "\u00e9"

    # Valid UTF-8 (NUL and controls included) needs no hex: it is exact.
    text = 'caf\u00e9 \u20ac "q" \\ \n\x00\x01 \U0001F600'.encode()
    j = cli(cluster, "put", "utf8", "-", stdin=text)
    assert "key_hex" not in j, j
    j = cli(cluster, "get", "utf8")
    assert j["value"].encode() == text and "value_hex" not in j, j
    # An empty value is an empty string.
    cli(cluster, "put", "empty", "-", stdin=b"")
    j = cli(cluster, "get", "empty")
    assert j["value"] == "" and "value_hex" not in j, j


def test_wakeup_floor_json_is_strict_and_typed(build_dir):
    exe = os.path.join(build_dir, "perf", "catena-wakeup-floor")
    p = subprocess.run([exe, "--json", "--rounds", "200"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert p.stdout.count("\n") == 1, p.stdout
    d = strict(p.stdout)
    assert list(d) == ["sleep_10us_default_slack", "sleep_10us_min_slack",
                       "eventfd_one_way"], d
    assert isinstance(d["sleep_10us_default_slack"]["slack_ns"], int), d
    assert d["eventfd_one_way"]["cpus"] == [0, 1], d
    for part in d.values():
        for q in ("p50_us", "p99_us"):
            v = part[q]
            # A float, to 0.1 us as the text line shows it.
            assert isinstance(v, float) and v > 0, (q, part)
            assert round(v, 1) == v and len(repr(v)) < 12, (q, part)
        assert part["p99_us"] >= part["p50_us"], part


class FakeControl:
    """The control plane's side of the node channel, as much as the
    digests need: accept the node, take its hello, hand it a map, ask."""

    def __init__(self, path):
        self.srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.srv.bind(path)
        self.srv.listen(1)
        self.lines = queue.Queue()
        self.conn = None

    def accept(self, timeout=20):
        self.srv.settimeout(timeout)
        self.conn, _ = self.srv.accept()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        buf = b""
        while True:
            try:
                b = self.conn.recv(1 << 16)
            except OSError:
                b = b""
            if not b:
                self.lines.put(None)
                return
            buf += b
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                self.lines.put(line)

    def send(self, obj):
        self.conn.sendall(json.dumps(obj).encode() + b"\n")

    def next(self, type_, timeout=20):
        """The next line of that type, raw and parsed (others skipped)."""
        end = time.time() + timeout
        while True:
            line = self.lines.get(timeout=max(0.1, end - time.time()))
            assert line is not None, "the node closed the channel"
            m = strict(line.decode("utf-8"))
            if m.get("type") == type_:
                return line, m
            assert time.time() < end, "no %s line" % type_

    def close(self):
        for s in (self.conn, self.srv):
            if s is not None:
                s.close()


def test_digests_of_many_slots_come_in_complete_lines(harness, tmp_path):
    harness.setup(clients=1)
    path = str(tmp_path / "fake-control.sock")
    ctl = FakeControl(path)
    try:
        harness.start_node(conf=lambda c: c.replace(
            "slots = 1024", "slots = 4096") +
            "[control]\nconnect = unix:%s\nheartbeat_ms = 1000\n" % path,
            wait_ready=False)
        ctl.accept()
        _, hello = ctl.next("hello")
        assert hello["node"] == 1, hello
        text = ("epoch 1\nslots 4096\ncraq off\n\nnode 1 %s\n\nchain 1 1\n"
                "\nassign 0-4095 1\n" % harness.node_ip)
        ctl.send({"type": "map", "epoch": 1, "text": text})
        _, applied = ctl.next("map_applied")
        assert applied["epoch"] == 1, applied
        harness.nodes[0].wait_ready()

        # ~3500 of 4096 slots written: about 130 kB of digests, so three
        # lines or so of at most 64 kB.
        res = harness.workload({"mode": "fill", "n": 8000, "prefix": "dg",
                                "slots": 4096})
        assert res["get_ok"] == 8000, {k: res[k] for k in res if k != "bad"}
        ctl.send({"type": "digest_request", "req": 7})
        lines, slots = [], {}
        while True:
            raw, m = ctl.next("digests")
            lines.append(m)
            assert len(raw) <= LINE_MAX - TAG_OVERHEAD, len(raw)
            assert list(m) == (["type", "node", "req", "more", "slots"]
                               if "more" in m else
                               ["type", "node", "req", "slots"]), list(m)
            assert (m["node"], m["req"]) == (1, 7), m
            for s, e in m["slots"].items():
                assert s not in slots, "slot %s in two lines" % s
                assert s.isdigit() and int(s) < 4096, s
                assert isinstance(e[0], int) and e[0] > 0, (s, e)
                assert isinstance(e[1], str) and e[1].isdigit(), (s, e)
                assert int(e[1]) < 2 ** 64, (s, e)
                slots[s] = e
            if "more" not in m:
                break
            assert m["more"] is True, m
        assert len(lines) >= 2, "one line only: %d slots" % len(slots)
        assert all(lines[i]["slots"] for i in range(len(lines) - 1)), lines
        # Every written slot, as the node's own telemetry counts them.
        d = harness.nodes[0].telemetry("/catena/digest")["/catena/digest"]
        assert len(slots) == int(d["slots_written"]) > 3000, (
            len(slots), d.get("slots_written"))
        page = {k: v for k, v in d.items() if k.isdigit()}
        assert page, d
        for k, e in page.items():
            assert slots[k] == [e["version"], e["digest"]], (k, e, slots[k])
    finally:
        ctl.close()
