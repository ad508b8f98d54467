#!/usr/bin/env python3
"""Write the replication seeds of the `wire` fuzz target (tests/fuzz/fuzz_wire.c)
into tests/fuzz/corpus/wire/repl_*: one well-formed message of every
replication kind, laid out from docs/PROTOCOL.md ("Replication", "State
transfer") rather than from the C encoders, plus the malformed bodies each
decoder in replication/wire_repl.c must refuse. Run it again after changing
a layout; the files are committed.
"""
import os
import struct

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "wire")

FWD, ACK, VQUERY, VRESP, SNAP, SNAP_END, SNAP_ACK, SYNC_REQ, SYNC, SNAP_DEDUP, PING = range(0x41, 0x4c)
PUT, INCR, GET = 0x02, 0x05, 0x01


def msg(op, key=b"", value=b"", slot=5, epoch=3, cid=0, seq=0, arg=0, status=0):
    hdr = struct.pack("<HBBBBHIIQQHHI", 0xCA7E, 1, op, 0, status, slot,
                      epoch, cid, seq, arg, len(key), 0, len(value))
    return hdr + key + value


def ext(kind, client_op, port=5555, ip=0x0A000164, mac=b"\x02\0\0\0\0\x64",
        reply_arg=0, reserved=0):
    return (struct.pack("<BBHI", kind, client_op, port, ip) + mac +
            struct.pack("<HQ", reserved, reply_arg))


def dedup(cid, seq, rseq, arg, op, status, value, vlen=None):
    n = len(value) if vlen is None else vlen
    return struct.pack("<IQQQBBB", cid, seq, rseq, arg, op, status, n) + value


SEEDS = {
    "repl_fwd_put": msg(FWD, b"key", ext(1, PUT, reply_arg=9) + b"value",
                        cid=7, seq=11, arg=9),
    "repl_fwd_del": msg(FWD, b"key", ext(2, 0x03, reply_arg=8), cid=7, seq=12,
                        arg=10),
    "repl_fwd_noop": msg(FWD, b"key", ext(3, 0x04, reply_arg=4), cid=7, seq=13,
                         arg=11, status=2),
    "repl_fwd_incr": msg(FWD, b"n", ext(1, INCR, reply_arg=12) + b"-42", cid=7,
                         seq=14, arg=12),
    "repl_ack": msg(ACK, arg=12),
    "repl_vquery": msg(VQUERY, b"key", ext(0, GET), cid=7, seq=15),
    "repl_vresp": msg(VRESP, b"key", ext(0, GET), cid=7, seq=15, arg=9),
    "repl_snap": msg(SNAP, b"key", b"value", cid=0x1234, seq=1, arg=9),
    "repl_snap_dedup": msg(SNAP_DEDUP, value=dedup(7, 14, 12, 12, INCR, 0, b"-42"),
                           cid=0x1234, seq=2),
    "repl_snap_end": msg(SNAP_END, cid=0x1234, seq=3, arg=12),
    "repl_snap_ack": msg(SNAP_ACK, cid=0x1234, seq=3),
    "repl_sync_req": msg(SYNC_REQ),
    "repl_sync": msg(SYNC, arg=12),
    "repl_ping": msg(PING, slot=0),
    # What the decoders refuse.
    "repl_err_fwd_ext_short": msg(FWD, b"key", ext(1, PUT)[:23], arg=9),
    "repl_err_fwd_ext_reserved": msg(FWD, b"key", ext(1, PUT, reserved=1), arg=9),
    "repl_err_fwd_kind": msg(FWD, b"key", ext(4, PUT), arg=9),
    "repl_err_fwd_no_key": msg(FWD, b"", ext(1, PUT), arg=9),
    "repl_err_vquery_no_key": msg(VQUERY, b"", ext(0, GET)),
    "repl_err_vresp_reserved": msg(VRESP, b"key", ext(0, GET, reserved=0x100), arg=9),
    "repl_err_snap_version0": msg(SNAP, b"key", b"v", cid=0x1234, seq=1, arg=0),
    "repl_err_dedup_short": msg(SNAP_DEDUP, value=dedup(7, 1, 1, 1, PUT, 0, b"")[:30],
                                cid=0x1234, seq=2),
    "repl_err_dedup_len_mismatch": msg(SNAP_DEDUP,
                                       value=dedup(7, 1, 1, 1, INCR, 0, b"12", vlen=3),
                                       cid=0x1234, seq=2),
    "repl_err_dedup_value_over": msg(SNAP_DEDUP,
                                     value=dedup(7, 1, 1, 1, INCR, 0, b"1" * 21),
                                     cid=0x1234, seq=2),
}


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, data in sorted(SEEDS.items()):
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)
    print("wrote %d seeds to %s" % (len(SEEDS), OUT))


if __name__ == "__main__":
    main()
