"""
catena wire protocol in pure Python, written from replication/wire.h and
replication/hash.h independently of the C code, so the integration tests
check the node against the contract rather than against its own encoder.
Standard library only: it runs inside client namespaces via workload.py.
Never sends anything by itself; the Client only talks to the address given.
"""

import os
import random
import select
import socket
import struct
import time

MAGIC = 0xCA7E
VERSION = 1
HDR_LEN = 40
DEFAULT_PORT = 7470
KEY_MAX = 250
PAYLOAD_MAX_1500 = 1472

# Header layout, little-endian, 40 bytes:
# magic u16, version u8, op u8, flags u8, status u8, slot u16, epoch u32,
# client_id u32, seq u64, arg u64, key_len u16, reserved u16, value_len u32
HDR = struct.Struct("<HBBBBHIIQQHHI")
assert HDR.size == HDR_LEN

OP_GET, OP_PUT, OP_DEL, OP_CAS, OP_INCR, OP_PING = 1, 2, 3, 4, 5, 6
OP_MAP_GET = 7
OP_NAMES = {OP_GET: "GET", OP_PUT: "PUT", OP_DEL: "DEL", OP_CAS: "CAS",
            OP_INCR: "INCR", OP_PING: "PING", OP_MAP_GET: "MAP_GET"}
WRITE_OPS = (OP_PUT, OP_DEL, OP_CAS, OP_INCR)

F_REPLY = 0x01
F_CAS_VALUE = 0x02
F_MORE = 0x04

ST_OK = 0
ST_NOT_FOUND = 1
ST_CAS_FAILED = 2
ST_MOVED = 3
ST_RETRY = 4
ST_TOO_LARGE = 5
ST_BAD_REQUEST = 6
ST_UNKNOWN_OP = 7
ST_BAD_VERSION = 8
ST_NOT_A_NUMBER = 9
ST_OVERFLOW = 10
ST_NO_SPACE = 11
ST_WRONG_SLOT = 12
ST_OUTCOME_UNKNOWN = 13
STATUS_NAMES = ["OK", "NOT_FOUND", "CAS_FAILED", "MOVED", "RETRY",
                "TOO_LARGE", "BAD_REQUEST", "UNKNOWN_OP", "BAD_VERSION",
                "NOT_A_NUMBER", "OVERFLOW", "NO_SPACE", "WRONG_SLOT",
                "OUTCOME_UNKNOWN"]


def status_name(st):
    return STATUS_NAMES[st] if 0 <= st < len(STATUS_NAMES) else "?%d" % st


REPL_EXT_LEN = 24  # what a chain forward adds (PROTOCOL.md, Limits)


def value_max(mtu, key_len):
    """Largest value one request may carry (cat_wire_value_max)."""
    fixed = 28 + HDR_LEN + REPL_EXT_LEN
    if mtu < fixed + key_len:
        return 0
    return mtu - fixed - key_len


# --- CRC-32C (Castagnoli, reflected 0x82F63B78, init/xorout 0xFFFFFFFF) ---

def _make_table():
    poly = 0x82F63B78
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ poly if c & 1 else c >> 1
        table.append(c)
    return table


_CRC_TABLE = _make_table()


def crc32c(data):
    crc = 0xFFFFFFFF
    t = _CRC_TABLE
    for b in data:
        crc = t[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


assert crc32c(b"123456789") == 0xE3069283


def slot_of(key, slot_count):
    return crc32c(key) & (slot_count - 1)


# --- messages ---

class Msg:
    """One catena message (request or reply); key and value are bytes."""

    __slots__ = ("version", "op", "flags", "status", "slot", "epoch",
                 "client_id", "seq", "arg", "key", "value", "reserved")

    def __init__(self, op=0, key=b"", value=b"", arg=0, flags=0, status=0,
                 slot=0, epoch=0, client_id=0, seq=0, version=VERSION,
                 reserved=0):
        self.version = version
        self.op = op
        self.flags = flags
        self.status = status
        self.slot = slot
        self.epoch = epoch
        self.client_id = client_id
        self.seq = seq
        self.arg = arg
        self.key = bytes(key)
        self.value = bytes(value)
        self.reserved = reserved

    @property
    def status_name(self):
        return status_name(self.status)

    @property
    def arg_signed(self):
        return self.arg - (1 << 64) if self.arg >= (1 << 63) else self.arg

    def encode(self, key_len=None, value_len=None, magic=MAGIC):
        """Bytes on the wire. key_len/value_len/magic override the header
        fields only, for building malformed messages on purpose."""
        kl = len(self.key) if key_len is None else key_len
        vl = len(self.value) if value_len is None else value_len
        hdr = HDR.pack(magic, self.version, self.op, self.flags, self.status,
                       self.slot, self.epoch, self.client_id,
                       self.seq & 0xFFFFFFFFFFFFFFFF,
                       self.arg & 0xFFFFFFFFFFFFFFFF, kl, self.reserved, vl)
        return hdr + self.key + self.value

    def to_dict(self):
        return {"op": self.op, "flags": self.flags, "status": self.status,
                "status_name": self.status_name, "slot": self.slot,
                "epoch": self.epoch, "client_id": self.client_id,
                "seq": self.seq, "arg": self.arg, "version": self.version,
                "key": self.key.hex(), "value": self.value.hex()}

    @classmethod
    def from_dict(cls, d):
        return cls(op=d["op"], flags=d["flags"], status=d["status"],
                   slot=d["slot"], epoch=d["epoch"], client_id=d["client_id"],
                   seq=d["seq"], arg=d["arg"], version=d["version"],
                   key=bytes.fromhex(d["key"]),
                   value=bytes.fromhex(d["value"]))

    def __repr__(self):
        return ("Msg(op=%s flags=%#x status=%s slot=%d epoch=%d cid=%#x "
                "seq=%d arg=%d key=%r value=%r)" % (
                    OP_NAMES.get(self.op, self.op), self.flags,
                    self.status_name, self.slot, self.epoch, self.client_id,
                    self.seq, self.arg, self.key[:40], self.value[:40]))


class DecodeError(Exception):
    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason  # short | bad_magic | bad_version | truncated | reserved


def decode(buf, off=0):
    """Decode one message at buf[off:]; returns (Msg, bytes consumed)."""
    if len(buf) - off < HDR_LEN:
        raise DecodeError("short")
    (magic, ver, op, flags, status, slot, epoch, cid, seq, arg, kl, rsv,
     vl) = HDR.unpack_from(buf, off)
    if magic != MAGIC:
        raise DecodeError("bad_magic")
    if ver != VERSION:
        raise DecodeError("bad_version")
    if rsv != 0 or flags & ~(F_REPLY | F_CAS_VALUE):
        raise DecodeError("reserved")
    end = off + HDR_LEN + kl + vl
    if end > len(buf):
        raise DecodeError("truncated")
    k0 = off + HDR_LEN
    m = Msg(op=op, flags=flags, status=status, slot=slot, epoch=epoch,
            client_id=cid, seq=seq, arg=arg, version=ver,
            key=buf[k0:k0 + kl], value=buf[k0 + kl:end])
    return m, end - off


def decode_all(buf):
    """All messages of one datagram, back to back; raises on any error."""
    out = []
    off = 0
    while off < len(buf):
        m, n = decode(buf, off)
        out.append(m)
        off += n
    return out


# --- a small blocking client ---

class Timeout(Exception):
    pass


class Client:
    """Blocking UDP client. Every request gets a fresh seq; a try that gets
    no reply within timeout is re-sent as the SAME bytes (same client_id and
    seq), as libcatena does. Replies are matched on (client_id, seq)."""

    def __init__(self, host, port=DEFAULT_PORT, slots=1024, timeout=0.5,
                 retries=5, client_id=None, mtu=1500):
        self.addr = (host, port)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.sock.bind(("0.0.0.0", 0))
        self.slots = slots
        self.timeout = timeout
        self.retries = retries
        self.client_id = (client_id if client_id is not None
                          else (int.from_bytes(os.urandom(4), "little") or 1))
        self.seq = int.from_bytes(os.urandom(2), "little") << 16
        self.mtu = mtu
        self.resends = 0      # datagrams sent again after a timeout
        self.stray = 0        # replies that matched nothing outstanding

    def close(self):
        self.sock.close()

    def next_seq(self):
        self.seq += 1
        return self.seq

    def make(self, op, key=b"", value=b"", arg=0, flags=0, slot=None):
        if isinstance(key, str):
            key = key.encode()
        if isinstance(value, str):
            value = value.encode()
        if slot is None:
            slot = slot_of(key, self.slots)
        return Msg(op=op, key=key, value=value, arg=arg, flags=flags,
                   slot=slot, client_id=self.client_id, seq=self.next_seq())

    # raw datagram I/O
    def send_raw(self, data):
        self.sock.sendto(data, self.addr)

    def recv_raw(self, timeout):
        """One datagram or None after timeout seconds."""
        r, _, _ = select.select([self.sock], [], [], max(timeout, 0))
        if not r:
            return None
        data, _ = self.sock.recvfrom(65535)
        return data

    def drain(self, quiet=0.2):
        """Every datagram that arrives until `quiet` seconds pass without one."""
        out = []
        while True:
            d = self.recv_raw(quiet)
            if d is None:
                return out
            out.append(d)

    def exchange(self, msgs, per_packet=None, window=16):
        """Send msgs (already built with make()), packing several per
        datagram up to the payload limit (or `per_packet`), keeping `window`
        datagrams in flight; re-send a datagram unchanged until all its
        messages are answered. Returns replies in the order of msgs."""
        limit = self.mtu - 28
        packets = []  # list of (bytes, [seq...])
        cur, cur_seqs = b"", []
        for m in msgs:
            b = m.encode()
            if cur and (len(cur) + len(b) > limit or
                        (per_packet and len(cur_seqs) >= per_packet)):
                packets.append((cur, cur_seqs))
                cur, cur_seqs = b"", []
            cur += b
            cur_seqs.append(m.seq)
        if cur:
            packets.append((cur, cur_seqs))

        replies = {}
        pending = {}  # packet index -> (deadline, tries)
        nxt = 0
        while nxt < len(packets) or pending:
            while nxt < len(packets) and len(pending) < window:
                self.send_raw(packets[nxt][0])
                pending[nxt] = [time.monotonic() + self.timeout, 0]
                nxt += 1
            earliest = min(v[0] for v in pending.values())
            d = self.recv_raw(earliest - time.monotonic())
            if d is not None:
                for r in decode_all(d):
                    if (r.client_id == self.client_id and r.flags & F_REPLY
                            and r.seq not in replies):
                        replies[r.seq] = r
                    else:
                        self.stray += 1
                for i in list(pending):
                    if all(s in replies for s in packets[i][1]):
                        del pending[i]
                continue
            now = time.monotonic()
            for i, v in list(pending.items()):
                if v[0] <= now:
                    if v[1] >= self.retries:
                        missing = [s for s in packets[i][1] if s not in replies]
                        raise Timeout("no reply to seq %s after %d tries"
                                      % (missing[:5], v[1] + 1))
                    v[1] += 1
                    v[0] = now + self.timeout
                    self.resends += 1
                    self.send_raw(packets[i][0])
        return [replies[m.seq] for m in msgs]

    def request(self, op, key=b"", value=b"", arg=0, flags=0, slot=None):
        m = self.make(op, key, value, arg, flags, slot)
        r = self.exchange([m])[0]
        if r.status == ST_WRONG_SLOT and slot is None and r.arg:
            self.slots = r.arg
            return self.request(op, key, value, arg, flags)
        return r

    def ping(self):
        return self.request(OP_PING, slot=0)

    def get(self, key):
        return self.request(OP_GET, key)

    def put(self, key, value):
        return self.request(OP_PUT, key, value)

    def delete(self, key):
        return self.request(OP_DEL, key)

    def cas(self, key, expected_version, value):
        return self.request(OP_CAS, key, value, arg=expected_version)

    def cas_value(self, key, expected, value):
        if isinstance(expected, str):
            expected = expected.encode()
        if isinstance(value, str):
            value = value.encode()
        return self.request(OP_CAS, key, expected + value, arg=len(expected),
                            flags=F_CAS_VALUE)

    def incr(self, key, delta=1):
        return self.request(OP_INCR, key, arg=delta & 0xFFFFFFFFFFFFFFFF)


# --- the cluster map (docs/CLUSTER_MAP.md) and a routing client ---

class MapError(Exception):
    pass


class ClusterMap:
    """A parsed cluster map: epoch, slots, craq, nodes {id: (ip, port)},
    chains {id: [node ids, head first]}, and the slot -> chain table.
    Parses what a node serves (canonical text) and hand-written maps;
    it is not a validator (map.c is; the unit tests hold its rules)."""

    def __init__(self, text):
        if isinstance(text, bytes):
            text = text.decode("ascii")
        self.text = text
        self.epoch = None
        self.slots = None
        self.craq = False
        self.nodes = {}
        self.macs = {}
        self.workers = {}    # node id -> workers it announces (its ports)
        self.chains = {}
        self.chain_order = []
        self.joining = {}    # chain id -> node joining it (not a replica)
        self.moving = {}     # transitional chain id -> (to, from) chain ids
        assigns = []
        for n, line in enumerate(text.split("\n"), 1):
            toks = line.split("#", 1)[0].split()
            if not toks:
                continue
            d, a = toks[0], toks[1:]
            try:
                if d == "epoch":
                    self.epoch = int(a[0])
                elif d == "slots":
                    self.slots = int(a[0])
                elif d == "craq":
                    self.craq = a[0] == "on"
                elif d == "workers":
                    self.workers[int(a[0])] = int(a[1])
                elif d == "node":
                    ip, _, port = a[1].partition(":")
                    self.nodes[int(a[0])] = (ip, int(port or DEFAULT_PORT))
                    if len(a) > 2:
                        self.macs[int(a[0])] = a[2].lower()
                elif d == "chain":
                    self.chains[int(a[0])] = [int(x) for x in a[1:]]
                    self.chain_order.append(int(a[0]))
                elif d == "assign":
                    assigns.append(a)
                elif d == "join":
                    self.joining[int(a[0])] = int(a[1])
                elif d == "move":       # a slot move's transitional chain
                    self.moving[int(a[0])] = (int(a[1]), int(a[2]))
                else:
                    raise MapError("line %d: unknown directive %r" % (n, d))
            except (IndexError, ValueError) as e:
                raise MapError("line %d: %r: %s" % (n, line, e))
        if self.epoch is None or self.slots is None:
            raise MapError("no epoch or slots line")
        self.slot_chain = [None] * self.slots
        for a in assigns:
            if a[0] == "all":
                for s in range(self.slots):
                    self.slot_chain[s] = self.chain_order[
                        s % len(self.chain_order)]
                continue
            lo, _, hi = a[0].partition("-")
            for s in range(int(lo), int(hi or lo) + 1):
                self.slot_chain[s] = int(a[1])
        if None in self.slot_chain:
            raise MapError("slot %d unassigned" % self.slot_chain.index(None))

    def chain_of(self, slot):
        """Node ids of the slot's chain, head first."""
        return self.chains[self.slot_chain[slot]]

    def head(self, slot):
        return self.chain_of(slot)[0]

    def tail(self, slot):
        return self.chain_of(slot)[-1]

    def addr_for(self, node, slot):
        """Where to send a request for slot to node: its worker port for
        the slot if the map announces its workers, else its address."""
        ip, port = self.nodes[node]
        w = self.workers.get(node)
        return (ip, port + 1 + slot % w) if w else (ip, port)

    def node_of_addr(self, addr):
        for nid, a in self.nodes.items():
            if a[0] == addr[0] and a[1] == addr[1]:
                return nid
        return None


class ClusterClient:
    """A routing client as PROTOCOL.md describes one: fetches the map with
    MAP_GET, sends writes to the slot's head and reads to its tail (any
    replica with craq on) from ONE unconnected socket, accepts the reply
    from any node (matched on client_id, seq, op, REPLY), follows MOVED
    (map refresh, same request id), backs off on RETRY, re-sends the same
    bytes on silence and refetches the map every `refresh_every` silent
    tries (the node may have left the chain), asking the silent node last.
    request() returns (reply Msg or None if it gave up, info dict)."""

    MOVED_MAX = 4

    def __init__(self, seeds, timeout=0.2, retries=10, refresh_every=None,
                 client_id=None, rng=None, map_timeout=0.25):
        self.seeds = [(h, DEFAULT_PORT) if isinstance(h, str) else tuple(h)
                      for h in seeds]
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.sock.bind(("0.0.0.0", 0))
        self.timeout = timeout
        self.retries = retries
        self.refresh_every = refresh_every or max(1, (retries + 1) // 2)
        self.map_timeout = map_timeout
        self.rng = rng or random.Random()
        self.client_id = (client_id if client_id is not None
                          else (int.from_bytes(os.urandom(4), "little") or 1))
        self.seq = int.from_bytes(os.urandom(2), "little") << 16
        self.map = None
        self.stats = {"resends": 0, "moved": 0, "retry": 0, "map_fetches": 0,
                      "map_fetch_failures": 0, "stray": 0, "gave_up": 0,
                      "refresh_on_silence": 0}

    def close(self):
        self.sock.close()

    def next_seq(self):
        self.seq += 1
        return self.seq

    def _wait(self, m, deadline):
        """The reply to m (same client_id, seq, op, REPLY) and its source
        address, or (None, None) at the deadline. Anything else is stray."""
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None, None
            r, _, _ = select.select([self.sock], [], [], left)
            if not r:
                return None, None
            data, src = self.sock.recvfrom(65535)
            try:
                msgs = decode_all(data)
            except DecodeError:
                self.stats["stray"] += 1
                continue
            hit = None
            for x in msgs:
                if (x.flags & F_REPLY and x.client_id == self.client_id and
                        x.seq == m.seq and x.op == m.op and hit is None):
                    hit = x
                else:
                    self.stats["stray"] += 1
            if hit is not None:
                return hit, src

    # the map
    def _fetch_from(self, addr):
        """The whole map text from one node, or None."""
        text, total, epoch, restarts = b"", None, None, 0
        while total is None or len(text) < total:
            m = Msg(op=OP_MAP_GET, arg=len(text), client_id=self.client_id,
                    seq=self.next_seq())
            r = None
            for _ in range(2):
                self.sock.sendto(m.encode(), addr)
                r, _ = self._wait(m, time.monotonic() + self.map_timeout)
                if r is not None:
                    break
            if r is None or r.status != ST_OK:
                return None
            if total is not None and (r.arg != total or r.epoch != epoch):
                restarts += 1
                if restarts > 8:
                    return None
                text, total, epoch = b"", None, None
                continue
            total, epoch = r.arg, r.epoch
            text += r.value
            if not r.value and len(text) < total:
                return None
        return text

    def fetch_map(self, first=None, last=None):
        """Refresh the map: ask `first`, the seeds, the map's nodes, and
        `last` (a silent node) at the end. Never goes back to an older
        epoch. Returns True if a map was fetched."""
        cands = []
        known = list(self.map.nodes.values()) if self.map else []
        for a in ([first] if first else []) + self.seeds + known:
            a = tuple(a)
            if a not in cands and a != last:
                cands.append(a)
        if last:
            cands.append(tuple(last))
        self.stats["map_fetches"] += 1
        for a in cands:
            text = self._fetch_from(a)
            if text is None:
                continue
            new = ClusterMap(text)
            if self.map is None or new.epoch >= self.map.epoch:
                self.map = new
            return True
        self.stats["map_fetch_failures"] += 1
        return self.map is not None

    def target(self, op, slot, hint=None):
        """Node id to send a request of op for slot under the current map."""
        if hint is not None and hint in self.map.nodes:
            return hint
        if op in WRITE_OPS:
            return self.map.head(slot)
        if op == OP_GET:
            if self.map.craq:
                return self.rng.choice(self.map.chain_of(slot))
            return self.map.tail(slot)
        return self.rng.choice(sorted(self.map.nodes))

    def request(self, op, key=b"", value=b"", arg=0, flags=0, to=None):
        """One request, routed by the map (or sent to node id `to`).
        Returns (reply or None, info); info: nodes tried, replier, moved,
        retry and silent-try counts."""
        if self.map is None and not self.fetch_map():
            raise MapError("no node answered MAP_GET")
        if isinstance(key, str):
            key = key.encode()
        if isinstance(value, str):
            value = value.encode()
        slot = slot_of(key, self.map.slots) if key else 0
        m = Msg(op=op, key=key, value=value, arg=arg & 0xFFFFFFFFFFFFFFFF,
                flags=flags, slot=slot, epoch=self.map.epoch,
                client_id=self.client_id, seq=self.next_seq())
        node = to if to is not None else self.target(op, slot)
        info = {"nodes": [], "moved": 0, "retry": 0, "silent": 0,
                "from": None}
        tries, moved, pause = 0, 0, 0.005
        while True:
            info["nodes"].append(node)
            if tries or moved:
                self.stats["resends"] += 1
            self.sock.sendto(m.encode(), self.map.addr_for(node, slot))
            r, src = self._wait(m, time.monotonic() + self.timeout)
            if r is None:
                tries += 1
                info["silent"] += 1
                if tries > self.retries:
                    self.stats["gave_up"] += 1
                    return None, info
                if to is None and tries % self.refresh_every == 0:
                    self.stats["refresh_on_silence"] += 1
                    self.fetch_map(last=self.map.nodes[node])
                    m.epoch = self.map.epoch
                    node = self.target(op, slot)
                continue
            info["from"] = self.map.node_of_addr(src)
            if r.status == ST_MOVED and to is None:
                moved += 1
                info["moved"] += 1
                self.stats["moved"] += 1
                if moved > self.MOVED_MAX:
                    return r, info
                hint = r.arg
                if r.epoch > self.map.epoch:
                    self.fetch_map(first=src)
                    hint = None      # the new map names the node
                m.epoch = self.map.epoch
                node = self.target(op, slot, hint)
                continue
            if r.status == ST_RETRY:
                tries += 1
                info["retry"] += 1
                self.stats["retry"] += 1
                if tries > self.retries:
                    return r, info
                time.sleep(pause)
                pause = min(pause * 2, self.timeout)
                continue
            return r, info
