"""
The catena wire format (docs/PROTOCOL.md): the 40-byte little-endian
header, the ops and statuses, CRC-32C slots and the value limit. Pure
functions and a message class; nothing here touches a socket.
"""

import struct

MAGIC = 0xCA7E
VERSION = 1
HDR_LEN = 40
DEFAULT_PORT = 7470
KEY_MAX = 250
DEFAULT_MTU = 1500
IP_UDP_LEN = 28            # IPv4 + UDP headers: a payload is MTU - 28
REPL_EXT_LEN = 24          # what a chain forward adds (PROTOCOL.md, Limits)
MAP_TEXT_MAX = 65536       # largest map text a node serves (replication/map.h)

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

U64 = 0xFFFFFFFFFFFFFFFF


def status_name(st):
    """The protocol's name of status code st ("?N" if unknown)."""
    return STATUS_NAMES[st] if 0 <= st < len(STATUS_NAMES) else "?%d" % st


def value_max(mtu, key_len):
    """Largest value one request may carry at this MTU with a key of
    key_len bytes (cat_wire_value_max): the request and the forward that
    replicates it, 24 bytes longer, must each fit one datagram."""
    fixed = IP_UDP_LEN + HDR_LEN + REPL_EXT_LEN
    if mtu < fixed + key_len:
        return 0
    return mtu - fixed - key_len


# --- CRC-32C (Castagnoli, reflected 0x82F63B78, init/xorout 0xFFFFFFFF) ---

def _make_table():
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_CRC_TABLE = _make_table()


def crc32c(data):
    """CRC-32C of bytes, as replication/hash.c computes the slot hash."""
    crc = 0xFFFFFFFF
    t = _CRC_TABLE
    for b in data:
        crc = t[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def slot_of(key, slot_count):
    """The slot of key: CRC32C(key) mod slot_count (a power of two)."""
    return crc32c(key) & (slot_count - 1)


def slot_count_valid(n):
    """Slot counts are powers of two from 1 to 65536 (slot is a u16)."""
    return 1 <= n <= 65536 and n & (n - 1) == 0


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
        """arg read as a two's complement int64 (INCR's delta)."""
        return self.arg - (1 << 64) if self.arg >= (1 << 63) else self.arg

    def encode(self, key_len=None, value_len=None, magic=MAGIC):
        """Bytes on the wire. key_len/value_len/magic override the header
        fields only, for building malformed messages on purpose."""
        kl = len(self.key) if key_len is None else key_len
        vl = len(self.value) if value_len is None else value_len
        hdr = HDR.pack(magic, self.version, self.op, self.flags, self.status,
                       self.slot, self.epoch, self.client_id,
                       self.seq & U64, self.arg & U64, kl, self.reserved, vl)
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
    """A datagram that is not a well-formed catena message."""

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


def decode_prefix(buf):
    """The messages of a datagram up to the first that does not decode
    (after it the next message boundary is unknown)."""
    out = []
    off = 0
    while off < len(buf):
        try:
            m, n = decode(buf, off)
        except DecodeError:
            break
        out.append(m)
        off += n
    return out
