#!/usr/bin/env python3
"""Write the seed corpus of the `repl` fuzz target (tests/fuzz/fuzz_repl.c)
into tests/fuzz/corpus/repl/: short scenarios in its input format (a setup
byte, then records) that reach the protocol's main paths, so the fuzzer
mutates from there rather than from nothing. Run it again after changing
the input format; the files are committed.
"""
import os
import struct
import sys
import zlib

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "repl")

GET, PUT, DEL, CAS, INCR = 1, 2, 3, 4, 5
FWD, ACK, VQUERY, VRESP, SNAP, SNAP_END, SNAP_ACK, SYNC_REQ, SYNC = range(0x41, 0x4a)
SLOTS = 8


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
    return crc ^ 0xFFFFFFFF


def msg(op, key=b"", value=b"", slot=None, epoch=1, cid=7, seq=1, arg=0,
        flags=0, status=0):
    if slot is None:
        slot = crc32c(key) % SLOTS if key else 0
    hdr = struct.pack("<HBBBBHIIQQHHI", 0xCA7E, 1, op, flags, status, slot,
                      epoch, cid, seq, arg, len(key), 0, len(value))
    return hdr + key + value


def ctl(kind, to=1, frm=0, norm=False, adv=False):
    return bytes([kind | ((to - 1) << 2) | (frm << 4) | (0x40 if norm else 0)
                  | (0x80 if adv else 0)])


def inject(m, to=1, frm=0, norm=True, adv=False):
    return ctl(0, to, frm, norm, adv) + m


def deliver(i=0, dup=False):
    return ctl(1, norm=dup) + bytes([i])


def drop(i=0):
    return ctl(2) + bytes([i])


def publish(layout, mask=0, craq=False):
    return ctl(2, norm=True) + bytes([layout | (mask << 3) | (0x40 if craq else 0)])


def run(adv=True):
    return ctl(3, norm=True, adv=adv)


def tick(adv=True):
    return ctl(3, adv=adv)


def ext(kind=1, op=PUT, reply_arg=0):
    return (bytes([kind, op]) + struct.pack("<HI", 5555, 0x0A000164)
            + bytes([2, 0, 0, 0, 0, 0x64]) + b"\0\0" + struct.pack("<Q", reply_arg))


def setup(layout=0, pool=3, workers=1, memcap=False, dedup_small=False, rate=False):
    return bytes([layout | (pool << 2) | (0x10 if workers == 2 else 0)
                  | (0x20 if memcap else 0) | (0x40 if dedup_small else 0)
                  | (0x80 if rate else 0)])


def puts(n, node=1, prefix=b"k", value=b"v", start=1):
    return b"".join(inject(msg(PUT, prefix + str(i).encode(), value, seq=start + i), node)
                    + run() for i in range(n))


SEEDS = {
    # A write down chain 1-2-3, the tail answers, acks come back; a read.
    "chain_put_get": setup() + puts(3) + inject(msg(GET, b"k1"), 3) + run(),
    # Every client write op, retried once, with a failing CAS and INCR.
    "chain_all_ops": setup() + inject(msg(PUT, b"n", b"41", seq=1)) + run()
    + inject(msg(INCR, b"n", seq=2, arg=1)) + inject(msg(INCR, b"n", seq=2, arg=1))
    + run() + inject(msg(INCR, b"n", seq=2, arg=1)) + inject(msg(CAS, b"n", b"x", seq=3, arg=99))
    + inject(msg(DEL, b"n", seq=4)) + inject(msg(INCR, b"q", b"", seq=5, arg=2**63)) + run(),
    # Losses and duplicates: the head retransmits, the middle drops a gap.
    "chain_loss_dup": setup() + inject(msg(PUT, b"a", b"1", seq=1)) + drop(0)
    + inject(msg(PUT, b"a", b"2", seq=2)) + deliver(0, dup=True) + deliver(0) + tick()
    + tick() + run() + run(),
    # Node 3 joins chain 1-2: snapshot, writes during it, hand-over map.
    "join_snapshot_handover": setup(layout=1) + puts(6) + run() + run() + run()
    + puts(3, start=20) + run() + run() + publish(0) + run() + run() + run(),
    # Two chains, node 2 joining chain 2 (tail 1), with two workers.
    "two_chains_join_workers": setup(layout=2, workers=2) + puts(8) + run() + run() + run()
    + publish(0) + run() + run(),
    # CRAQ: a dirty read at the middle asks the tail.
    "craq_dirty_read": setup(layout=3) + inject(msg(PUT, b"k", b"old", seq=1)) + run()
    + inject(msg(PUT, b"k", b"new", seq=2)) + deliver(0) + inject(msg(GET, b"k", seq=3), 2)
    + run(),
    # Reconfiguration: middle fails, then the head, then the tail; a lagging node.
    "reconfigure": setup() + puts(3) + inject(msg(PUT, b"x", b"1", seq=50))
    + publish(2, mask=0b101) + run() + publish(3, mask=0b110) + run() + publish(4) + run()
    + inject(msg(PUT, b"y", b"2", seq=51)) + run(),
    # A pool of two: writes beyond it answer RETRY.
    "pool_full_retry": setup(pool=0) + b"".join(
        inject(msg(PUT, b"p" + bytes([48 + i]), b"v", seq=100 + i)) for i in range(6)) + run(),
    # A tiny memory cap: large values end in NO_SPACE and refused applies.
    "memcap_no_space": setup(memcap=True) + b"".join(
        inject(msg(PUT, b"m" + bytes([48 + i]), b"x" * 1000, seq=200 + i)) + run()
        for i in range(6)),
    # A SNAP flood from a node that is not the joiner's tail.
    "snap_flood_not_tail": setup(layout=1) + b"".join(
        inject(msg(SNAP, b"s" + bytes([48 + i]), b"v", cid=9, seq=1, arg=5), to=3, frm=1)
        for i in range(8)) + inject(msg(SNAP_END, cid=9, seq=2, arg=5), to=3, frm=1) + run(),
    # Forged peer messages: FWD from a non-predecessor, bad extension, ACK
    # of the future, SYNC without a hold, VQUERY and VRESP.
    "forged_peer": setup() + puts(2)
    + inject(msg(FWD, b"k9", ext() + b"z", seq=1, arg=3), to=3, frm=1)
    + inject(msg(FWD, b"k9", b"short", seq=1, arg=3), to=2, frm=1)
    + inject(msg(FWD, b"k9", ext(kind=9), seq=1, arg=3), to=2, frm=1)
    + inject(msg(ACK, b"", b"", slot=1, arg=1 << 40), to=1, frm=2)
    + inject(msg(SYNC, b"", slot=2, arg=77), to=3, frm=2)
    + inject(msg(SYNC_REQ, b"", slot=2), to=2, frm=3)
    + inject(msg(VQUERY, b"k1", ext(kind=0, op=GET)), to=3, frm=2)
    + inject(msg(VRESP, b"k1", ext(kind=0, op=GET), arg=1), to=2, frm=3) + run(),
    # A joiner given a stream by the right tail, with gaps and a restart.
    "joiner_stream": setup(layout=1)
    + inject(msg(SNAP, b"a", b"1", cid=5, seq=1, arg=3), to=3, frm=2)
    + inject(msg(SNAP, b"b", b"2", cid=5, seq=3, arg=4), to=3, frm=2)
    + inject(msg(SNAP, b"b", b"2", cid=5, seq=2, arg=4), to=3, frm=2)
    + inject(msg(SNAP_END, cid=5, seq=3, arg=9), to=3, frm=2)
    + inject(msg(FWD, b"c", ext() + b"3", seq=1, arg=10), to=3, frm=2)
    + inject(msg(SNAP, b"a", b"1", cid=6, seq=1, arg=3), to=3, frm=2) + run(),
    # The joiner's rate limit, a small dedup table and stale epochs.
    "rate_dedup_epochs": setup(layout=1, dedup_small=True, rate=True) + puts(12)
    + run() + run() + inject(msg(PUT, b"e", b"1", epoch=9, seq=300), norm=False)
    + inject(msg(ACK, b"", slot=0, epoch=0, arg=1), to=1, frm=2, norm=False) + run(),
}


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, data in SEEDS.items():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)
    print(f"wrote {len(SEEDS)} seeds to {OUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
