#!/usr/bin/python3
"""Seed corpus for the backup fuzz target (fuzz_backup.c): small backup
files in docs/BACKUP.md's format, written without catena: one good file
with a few slots, an empty one (no slot), and cut-off and damaged ones.
Run from anywhere: writes tests/fuzz/corpus/backup/."""

import os
import struct


def crc32c(data, crc=0):
    crc ^= 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
    return crc ^ 0xFFFFFFFF


def block(typ, payload):
    head = struct.pack("<II", typ, len(payload))
    return head + struct.pack("<I", crc32c(payload, crc32c(head))) + payload


def backup(slot_count, slots):
    h = b"CATBKUP1" + struct.pack("<IIIIqQI", 1, 48, slot_count, 3,
                                  1700000000, 0, 0)
    out, n_blocks, keys, nbytes = h + struct.pack("<I", crc32c(h)), 0, 0, 0
    for s, cut, recs in slots:
        out += block(1, struct.pack("<IQ", s, cut))
        body = b"".join(struct.pack("<HIQ", len(k), len(v), ver) + k + v
                        for k, v, ver in recs)
        out += block(2, struct.pack("<II", s, len(recs)) + body)
        kb = sum(len(k) + len(v) for k, v, _ in recs)
        out += block(3, struct.pack("<IQQQ", s, cut, len(recs), kb))
        n_blocks += 3
        keys += len(recs)
        nbytes += kb
    return out + block(4, struct.pack("<IQQQ", len(slots), keys, nbytes, n_blocks))


def keys_of(slot, slot_count, n):
    out, i = [], 0
    while len(out) < n:
        k = b"key-%d" % i
        if crc32c(k) % slot_count == slot:
            out.append(k)
        i += 1
    return out


def main():
    d = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "backup")
    os.makedirs(d, exist_ok=True)
    sc = 16
    good = backup(sc, [(s, 10 + s, [(k, b"value-%d" % j, 1 + j)
                                    for j, k in enumerate(keys_of(s, sc, 3))])
                       for s in (0, 5, 15)])
    files = {
        "good_three_slots": good,
        "good_empty": backup(sc, []),
        "cut_in_records": good[:len(good) // 2],
        "damaged_block": good[:100] + bytes([good[100] ^ 1]) + good[101:],
        "header_only": good[:48],
    }
    for name, data in files.items():
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
