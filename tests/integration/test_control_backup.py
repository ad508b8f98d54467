"""
Scenario: backup and restore (issue 18, item 1; docs/BACKUP.md).
A three-node cluster with three rotated chains (two workers on one node)
takes writes while
`catenactl backup FILE` streams every slot from its tail; the file,
read back here by a reader written from docs/BACKUP.md alone, holds
every key written before the backup began at its value and version, and
every key written meanwhile at a value and version some acknowledged
write gave it (never a mix, never a version past its slot's cut).
`backup --verify` passes on it and names the block of a truncated copy
and of a copy with one damaged block, with what before it is good. The
file is restored into a fresh cluster of another layout (four nodes in
one chain, two workers on one of them): every key is at the file's value and version on every replica,
verify agrees, and a second restore into the now non-empty cluster is
refused (and allowed with --force). A backup cancelled (`backup cancel`,
or Ctrl-C on catenactl) leaves no file and the next one runs; a tail
killed during a backup has its slots dumped by the new tails.
"""

import json
import os
import shutil
import signal
import struct
import subprocess
import threading
import time

from cluster import ONE_CHAIN, THREE_CHAINS

N_BEFORE = 300      # keys written before the backup
N_DURING = 40       # keys overwritten while it runs


def crc32c(data, crc=0):
    crc ^= 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
    return crc ^ 0xFFFFFFFF


def read_backup(path):
    """docs/BACKUP.md's format: {"slots": {slot: {"cut": V, "keys":
    {key: (version, value)}}}, "epoch", "slot_count"}; asserts on any
    damage (the good file must read clean)."""
    data = open(path, "rb").read()
    assert data[:8] == b"CATBKUP1", data[:8]
    fmt, hlen, slot_count, epoch, created, cid, flags, hcrc = struct.unpack_from(
        "<IIIIqQII", data, 8)
    assert (fmt, hlen) == (1, 48) and hcrc == crc32c(data[:44])
    pos, slots, cur, blocks = 48, {}, None, 0
    while True:
        typ, ln, crc = struct.unpack_from("<III", data, pos)
        payload = data[pos + 12:pos + 12 + ln]
        assert len(payload) == ln and crc == crc32c(payload, crc32c(data[pos:pos + 8]))
        pos += 12 + ln
        if typ == 1:
            s, cut = struct.unpack_from("<IQ", payload)
            cur = slots.setdefault(s, {"cut": cut, "keys": {}})
        elif typ == 2:
            s, n = struct.unpack_from("<II", payload)
            p = 8
            for _ in range(n):
                kl, vl, ver = struct.unpack_from("<HIQ", payload, p)
                p += 14
                key = payload[p:p + kl].decode()
                val = payload[p + kl:p + kl + vl].decode()
                p += kl + vl
                assert crc32c(key.encode()) % slot_count == s
                assert key not in cur["keys"]
                cur["keys"][key] = (ver, val)
        elif typ == 3:
            s, cut, keys, nbytes = struct.unpack_from("<IQQQ", payload)
            assert keys == len(cur["keys"]) and cut == cur["cut"]
        elif typ == 4:
            nslots, keys, nbytes, nblocks = struct.unpack_from("<IQQQ", payload)
            assert nslots == len(slots) and nblocks == blocks
            assert pos == len(data)
            return {"slots": slots, "epoch": epoch, "slot_count": slot_count,
                    "keys": keys}
        blocks += 1


def put_all(c, items, client=0):
    """PUT every (key, value); {key: version} of the acknowledged ones."""
    res = c.ops([{"op": "put", "key": k, "value": v} for k, v in items],
                client=client)
    out = {}
    for (k, v), r in zip(items, res["results"]):
        assert r["status_name"] == "OK", r
        out[k] = r["arg"]
    return out


def get_all(c, keys, client=0):
    ops = [{"op": "get", "key": k} for k in keys]
    res = c.ops(ops, client=client)
    return {k: (r["status_name"], r.get("arg"), r.get("value_text"))
            for k, r in zip(keys, res["results"])}


def keys_in_slots(prefix, n, slots):
    """n keys "PREFIX-i-m" whose slot (CRC-32C mod 1024) is below slots."""
    out, m = [], 0
    while len(out) < n:
        k = "%s-%d-%d" % (prefix, len(out), m)
        if crc32c(k.encode()) % 1024 < slots:
            out.append(k)
            m = 0
        else:
            m += 1
    return out


def test_backup_under_writes_then_restore_into_another_layout(
        make_control_cluster, tmp_path):
    # Two workers on node 2: writes that reach the worker not owning their
    # slot are handed over to the owner, which records them for the dump.
    c1 = make_control_cluster(chains=THREE_CHAINS, clients=2, workers={2: 2})
    # Most keys in a few slots, so that their walks are long (at the
    # rate below) and the writer below hits slots while they are walked.
    kb = keys_in_slots("k", N_BEFORE // 2, 8) + [
        "k-%d" % i for i in range(N_BEFORE - N_BEFORE // 2)]
    wk = keys_in_slots("w", N_DURING, 8)
    before = put_all(c1, [(k, "v0-" + k) for k in kb])
    # A writer overwrites N_DURING keys round after round until the backup
    # is done.
    acked, stop, rounds = {}, threading.Event(), [0]

    def write_rounds():
        while not stop.is_set():
            r = rounds[0]
            items = [(k, "%s-r%d" % (k, r)) for k in wk]
            res = c1.ops([{"op": "put", "key": k, "value": v} for k, v in items],
                         client=1)
            for (k, v), x in zip(items, res["results"]):
                if x["status_name"] == "OK":
                    acked[(k, v)] = x["arg"]
            rounds[0] += 1
    writer = threading.Thread(target=write_rounds)
    writer.start()
    path = str(tmp_path / "cluster.bak")
    try:
        while rounds[0] < 2:
            time.sleep(0.05)
        # A small rate (1500 B/s, 500 a tail) makes the walks of the big
        # slots last a while; the writer hits them as they are walked.
        p = c1.ctl.ctl("backup", path, "--rate", "1500", timeout=180)
    finally:
        stop.set()
        writer.join()
    assert p.returncode == 0, (p.returncode, p.stdout, p.stderr)
    assert "1024/1024 slots" in p.stderr, p.stderr
    st = c1.ctl.result("backup_status")
    assert st["state"] == "done" and st["slots_done"] == 1024, st
    # Writes were recorded while slots were walked.
    assert st["replayed"] > 0 and st["walked"] > 0, st
    assert len(acked) >= 2 * N_DURING, rounds
    assert not os.path.exists(path + ".partial")

    b = read_backup(path)
    keys = {k: kv for s in b["slots"].values() for k, kv in s["keys"].items()}
    assert b["slot_count"] == 1024 and b["epoch"] >= 1
    assert b["keys"] == len(keys) == N_BEFORE + N_DURING, b["keys"]
    for k in kb:
        assert keys[k] == (before[k], "v0-" + k), k
    cut_of = {k: s["cut"] for s in b["slots"].values() for k in s["keys"]}
    for k in wk:
        ver, val = keys[k]
        # A value some acknowledged write gave it, at that write's version...
        assert acked.get((k, val)) == ver, (k, ver, val)
        # ... and the newest of them at or below its slot's cut: the key
        # as the slot was at the cut, whatever the walk met first.
        newest = max(v for (kk, _), v in acked.items()
                     if kk == k and v <= cut_of[k])
        assert ver == newest, (k, ver, newest, cut_of[k])
    for s in b["slots"].values():
        assert all(v <= s["cut"] for v, _ in s["keys"].values()), s
    # The writer went on after some slot's cut: the file is not a copy
    # taken once the writes were over (every w key in it shows they had
    # begun).
    last = {k: max(v for (kk, _), v in acked.items() if kk == k) for k in wk}
    assert any(keys[k][0] < last[k] for k in wk), "backup after the writer"

    # backup --verify: the good file, a truncated one, a damaged one.
    v = c1.ctl.ctl("backup", "--verify", path)
    assert v.returncode == 0, (v.stdout, v.stderr)
    assert "good" in v.stdout and "%d keys" % (N_BEFORE + N_DURING) in v.stdout, v.stdout
    data = open(path, "rb").read()
    trunc = str(tmp_path / "trunc.bak")
    open(trunc, "wb").write(data[:len(data) * 2 // 3])
    v = c1.ctl.ctl("backup", "--verify", trunc)
    assert v.returncode == 1, (v.stdout, v.stderr)
    assert "truncated" in v.stderr and "block " in v.stderr, v.stderr
    assert "slots complete" in v.stderr, v.stderr
    # One byte of a records block, past the first slots.
    bad = bytearray(data)
    pos, n_blocks = 48, 0
    while True:
        typ, ln, _ = struct.unpack_from("<III", data, pos)
        n_blocks += 1
        if typ == 2 and pos > len(data) // 2:
            break
        pos += 12 + ln
    bad[pos + 12 + ln // 2] ^= 0x20
    damaged = str(tmp_path / "damaged.bak")
    open(damaged, "wb").write(bytes(bad))
    v = c1.ctl.ctl("backup", "--verify", damaged)
    assert v.returncode == 1, (v.stdout, v.stderr)
    assert "block %d (offset %d" % (n_blocks, pos) in v.stderr, (n_blocks, pos, v.stderr)
    assert "CRC-32C mismatch" in v.stderr and "slots complete" in v.stderr, v.stderr
    # A damaged file is never restored.
    r = c1.ctl.ctl("restore", damaged, "--force")
    assert r.returncode == 1 and "not a good backup" in r.stderr, (r.stdout, r.stderr)

    # The old cluster goes; a new one with one chain of three comes.
    assert not c1.teardown()
    assert not c1.ctl.teardown()
    # Its catena-control's state goes too: the new one starts from no map.
    shutil.rmtree(str(tmp_path / "control"))
    # Four nodes, one chain of four, and two workers on the head (the
    # slots' records go to the worker that owns each).
    c2 = make_control_cluster(chains=[[1, 2, 3, 4]], clients=1, n_nodes=4,
                              workers={1: 2})
    p = c2.ctl.ctl("restore", path, timeout=180)
    assert p.returncode == 0, (p.returncode, p.stdout, p.stderr)
    assert "restore %s: " % path in p.stdout, p.stdout
    assert "slots checked, all replicas agree" in p.stdout, p.stdout
    names = sorted(keys)
    got = get_all(c2, names)
    for k in names:
        ver, val = keys[k]
        assert got[k] == ("OK", ver, val), (k, got[k], keys[k])
    # Every replica holds the same (check_replicas compares the digests
    # of every slot on every member, as verify did).
    c2.quiesce()
    c2.check_replicas()
    # Writes continue from the restored versions.
    after = put_all(c2, [("k-0", "after")])
    assert after["k-0"] > max(s["cut"] for s in b["slots"].values()
                              if "k-0" in s["keys"])

    # Not empty now: refused, unless --force.
    r = c2.ctl.ctl("restore", path)
    assert r.returncode == 1 and "not empty" in r.stderr, (r.stdout, r.stderr)
    assert get_all(c2, ["k-0"])["k-0"][2] == "after"
    r = c2.ctl.ctl("restore", path, "--force", timeout=180)
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert get_all(c2, ["k-0"])["k-0"][1:] == keys["k-0"]


def start_ctl(ctl, *args):
    return subprocess.Popen([ctl.bins["catenactl"], "-s", ctl.mgmt] +
                            [str(a) for a in args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def test_backup_cancel_and_ctrl_c_leave_no_file_and_the_next_backup_runs(
        make_control_cluster, tmp_path):
    c = make_control_cluster(chains=ONE_CHAIN, clients=1)
    ctl = c.ctl
    keys = keys_in_slots("c", 200, 4)
    put_all(c, [(k, "x" * 40) for k in keys])
    path = str(tmp_path / "slow.bak")

    def running():
        st = ctl.result("backup_status")
        return st if st["state"] == "running" else None

    for how in ("cancel", "ctrl-c"):
        # 100 bytes/s: the big slots take minutes.
        p = start_ctl(ctl, "backup", path, "--rate", "100")
        st = ctl.wait_for("the backup to run", running, timeout=10)
        assert st["file"] == path and st["slots_total"] == 1024, st
        assert os.path.exists(path + ".partial") and not os.path.exists(path)
        # One job at a time.
        q = ctl.ctl("backup", str(tmp_path / "other.bak"))
        assert q.returncode == 1 and "is running" in q.stderr, (q.stdout, q.stderr)
        q = ctl.ctl("restore", path)
        assert q.returncode == 1 and "is running" in q.stderr, (q.stdout, q.stderr)
        if how == "cancel":
            q = ctl.ctl("backup", "cancel")
            assert q.returncode == 0, (q.stdout, q.stderr)
        else:
            p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=30)
        assert p.returncode == 1, (how, p.returncode, out, err)
        assert "backup cancelled" in err, (how, err)
        st = ctl.result("backup_status")
        assert st["state"] == "cancelled" and "operator" in st["error"], st
        assert not os.path.exists(path) and not os.path.exists(path + ".partial")
        q = ctl.ctl("backup", "cancel")
        assert q.returncode == 1 and "no backup is running" in q.stderr, q.stderr

    # A good backup of another slot count (the fuzz seed: 16 slots) is
    # refused as such, whatever --force says.
    seed = os.path.join(os.path.dirname(__file__), "..", "fuzz", "corpus",
                        "backup", "good_three_slots")
    q = ctl.ctl("restore", os.path.abspath(seed), "--force")
    assert q.returncode == 1 and "has 16 slots, the cluster 1024" in q.stderr, q.stderr

    # Values near the largest the MTU allows, many to a slot: the node
    # cuts its dump_data lines under catena-control's line limit.
    big = keys_in_slots("big", 200, 4)
    bigv = put_all(c, [(k, k[-1] * 1300) for k in big])
    # The tail let go of the slot it was walking: a backup runs to the end.
    p = ctl.ctl("--json", "backup", path, timeout=120)
    assert p.returncode == 0, (p.stdout, p.stderr)
    st = json.loads(p.stdout.strip().splitlines()[-1])
    assert st["state"] == "done" and st["keys"] == len(keys) + len(big), st
    assert st["retries"] == 0, st
    b = read_backup(path)
    got = {k: kv for s in b["slots"].values() for k, kv in s["keys"].items()}
    assert sorted(got) == sorted(keys + big)
    assert all(got[k] == (bigv[k], k[-1] * 1300) for k in big)
    v = ctl.ctl("backup", "--verify", path)
    assert v.returncode == 0 and "%d keys" % len(got) in v.stdout, v.stdout
    # And back in (over what is there: --force), the big values whole.
    put_all(c, [(k, "changed") for k in big[:10]])
    r = ctl.ctl("restore", path, "--force", timeout=120)
    assert r.returncode == 0 and "all replicas agree" in r.stdout, (r.stdout, r.stderr)
    back = get_all(c, big)
    assert all(back[k] == ("OK", bigv[k], k[-1] * 1300) for k in big)
    # An existing FILE is replaced only by a whole new backup; a leftover
    # .partial (a crash of catena-control) is refused, not overwritten.
    open(path + ".partial", "w").write("left over")
    q = ctl.ctl("backup", path)
    assert q.returncode == 1 and "remove it" in q.stderr, q.stderr
    assert read_backup(path)["keys"] == len(got)


def test_a_tail_that_dies_during_the_backup_has_its_slots_dumped_by_the_next(
        make_control_cluster, tmp_path):
    c = make_control_cluster(chains=THREE_CHAINS, clients=1)
    ctl = c.ctl
    items = [(k, "y" * 30) for k in keys_in_slots("t", 300, 1024)]
    versions = put_all(c, items)
    path = str(tmp_path / "failover.bak")
    # ~20 KB at 6000 B/s in all: a few seconds, so node 3 dies mid-way.
    p = start_ctl(ctl, "backup", path, "--rate", "6000")
    ctl.wait_for("a third of the slots", lambda: (
        lambda st: st if st.get("slots_done", 0) > 300 else None)(
            ctl.result("backup_status")), timeout=30, period=0.05)
    c.kill9(3)
    out, err = p.communicate(timeout=120)
    assert p.returncode == 0, (p.returncode, out, err)
    st = ctl.result("backup_status")
    assert st["state"] == "done" and st["slots_done"] == 1024, st
    # What node 3 was asked (it queues a few) was asked again of the new
    # tails, its predecessors.
    assert st["retries"] >= 1 and "slot " in st["last_retry"], st
    events = " ".join(e["text"] for e in ctl.result("events")["events"])
    assert "slot dumps asked again" in events, events
    b = read_backup(path)
    keys = {k: kv for s in b["slots"].values() for k, kv in s["keys"].items()}
    assert keys == {k: (versions[k], v) for k, v in items}
