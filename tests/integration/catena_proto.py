"""
catena wire protocol in pure Python, written from replication/wire.h and
replication/hash.h independently of the C code, so the integration tests
check the node against the contract rather than against its own encoder.
Standard library only: it runs inside client namespaces via workload.py.
Never sends anything by itself; the Client only talks to the address given.
"""

import os
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
OP_NAMES = {OP_GET: "GET", OP_PUT: "PUT", OP_DEL: "DEL", OP_CAS: "CAS",
            OP_INCR: "INCR", OP_PING: "PING"}

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
STATUS_NAMES = ["OK", "NOT_FOUND", "CAS_FAILED", "MOVED", "RETRY",
                "TOO_LARGE", "BAD_REQUEST", "UNKNOWN_OP", "BAD_VERSION",
                "NOT_A_NUMBER", "OVERFLOW", "NO_SPACE", "WRONG_SLOT"]


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
