"""
Scenario: `[node] durability = log` (issue 18, item 2): a node that logs
every write it applies and, with `fsync = always`, answers a client only
once the write is on disk.
- kill -9 under a write load, restart: every acknowledged PUT is there, at
  its version, and the node says what it replayed;
- a record cut short at the end of the log (a crash while writing) is
  dropped with a warning, everything before it is kept, and the node goes
  on logging after it;
- a corrupt record in the middle stops the replay there: everything before
  it is served, the rest is kept aside in a .corrupt file, the node says so;
- `fsync = every_ms N` syncs on its own clock and /catena/durable shows it;
- snapshots (`log_snapshot_mb`) bound the log: after a few, the oldest
  segments are gone, and a kill -9 and restart replays the newest snapshot
  and the segments after it, every acknowledged PUT there; a damaged
  snapshot is set aside for the one before it, and with none left that
  can rebuild the log the node stops with exit 2;
- bad settings (an unknown fsync policy, a log directory that is a file)
  stop the node with exit 2 and a message naming the key.
"""

import json
import os
import struct
import subprocess
import time

import conftest

PREFIX = "d"


def durable_conf(log_dir, fsync="always", extra=""):
    def edit(conf):
        return conf.replace("idle = backoff\n", "idle = backoff\ndurability = log\n"
                            "fsync = %s\nlog_dir = %s\n%s" % (fsync, log_dir, extra))
    return edit


def putstream(h, n, window=4, retries=10, prefix=PREFIX, pad=0):
    """retries: tries of 0.3 s per batch before the stream stops (the kill
    test wants it to stop soon after the node is gone; the others not to
    stop for a slow moment of a loaded machine)."""
    return h.workload_start({"mode": "putstream", "host": h.node_ip, "n": n,
                             "window": window, "prefix": prefix, "retries": retries,
                             "pad": pad})


def acked_of(out):
    acked = []
    for line in out.splitlines():
        if line.startswith('{"acked"'):
            acked += json.loads(line)["acked"]
    return acked


def getcheck(h, acked, prefix=PREFIX, pad=0):
    return h.workload({"mode": "getcheck", "host": h.node_ip, "expect": acked,
                       "prefix": prefix, "pad": pad})


def segments(log_dir):
    return sorted(f for f in os.listdir(log_dir) if f.endswith(".clog"))


def records(path):
    """(offset, key) of every whole record of a segment, by the format of
    replication/dlog.h (the test's own reader: a second implementation)."""
    data = open(path, "rb").read()
    assert data[:8] == b"CATLOG1\0", path
    off, out = 32, []
    while off + 28 <= len(data):
        n, _crc, typ, _z, _slot, klen, _z2, vlen, _ver = struct.unpack_from(
            "<IIBBHHHIQ", data, off)
        if n < 28 or off + n > len(data):
            break
        out.append((off, data[off + 28:off + 28 + klen].decode(), typ))
        off += n
    return out


def test_kill_9_under_load_loses_no_acknowledged_write(harness, tmp_path):
    log_dir = str(tmp_path / "log")
    harness.setup(clients=1)
    node = harness.start_node(workers=2, conf=durable_conf(log_dir))
    assert "fsync always (a client is answered once its write is on disk)" in node.stderr()
    w = putstream(harness, 200000, retries=3)
    time.sleep(2.0)
    node.proc.kill()                     # SIGKILL: no chance to flush
    assert node.stop() == -9
    node.returncode = None               # the next run's status is its own
    out, err = w.communicate(timeout=60)
    acked = acked_of(out)
    assert len(acked) >= 200, (len(acked), err[-2000:])
    node.start()
    said = node.stderr()
    assert "durability: replayed" in said, said[-3000:]
    st = node.telemetry("/catena/durable")["/catena/durable"]
    assert st["durability"] == "log" and st["fsync"] == "always", st
    assert st["replayed_records"] >= len(acked), (st, len(acked))
    assert st["replay_errors"] == 0, st
    res = getcheck(harness, acked)
    assert res["ok"] == len(acked), res
    # It keeps logging after the restart: one more write, then a clean
    # stop and start, and both generations are there.
    w = putstream(harness, len(acked) + 40)
    out, _ = w.communicate(timeout=60)
    more = acked_of(out)
    assert node.stop() == 0, node.stderr()[-2000:]
    node.start()
    res = getcheck(harness, more)
    assert res["ok"] == len(more), res
    assert len(segments(log_dir)) >= 3, os.listdir(log_dir)
    assert node.stop() == 0


def test_torn_tail_is_dropped_and_everything_before_it_is_kept(harness, tmp_path):
    log_dir = str(tmp_path / "log")
    harness.setup(clients=1)
    node = harness.start_node(conf=durable_conf(log_dir))
    out, _ = putstream(harness, 300).communicate(timeout=60)
    acked = acked_of(out)
    assert len(acked) == 300, out[-500:]
    assert node.stop() == 0
    seg = os.path.join(log_dir, segments(log_dir)[-1])
    whole = records(seg)
    assert len(whole) >= 300, len(whole)
    with open(seg, "ab") as f:         # a crash in the middle of a write
        f.write(struct.pack("<II", 200, 0x12345678) + b"only part of a record")
    node.start()
    said = node.stderr()
    assert "cut short (a crash while writing): dropped" in said, said[-3000:]
    res = getcheck(harness, acked)
    assert res["ok"] == 300, res
    st = node.telemetry("/catena/durable")["/catena/durable"]
    assert st["replay_lost_bytes"] == 29, st
    assert os.path.exists(seg + ".corrupt"), os.listdir(log_dir)
    # Logging goes on after the cut.
    out, _ = putstream(harness, 310).communicate(timeout=60)
    assert node.stop() == 0
    node.start()
    res = getcheck(harness, acked_of(out))
    assert res["ok"] == 310, res
    assert node.stop() == 0


def test_corrupt_record_stops_replay_there_and_keeps_the_rest_aside(harness, tmp_path):
    log_dir = str(tmp_path / "log")
    harness.setup(clients=1)
    node = harness.start_node(conf=durable_conf(log_dir))
    out, _ = putstream(harness, 200).communicate(timeout=60)
    acked = dict(acked_of(out))
    assert len(acked) == 200, out[-500:]
    assert node.stop() == 0
    seg = os.path.join(log_dir, segments(log_dir)[-1])
    recs = [r for r in records(seg) if r[2] == 1]       # PUTs
    off, bad_key, _ = recs[120]
    with open(seg, "r+b") as f:
        f.seek(off + 30)
        b = f.read(1)
        f.seek(off + 30)
        f.write(bytes([b[0] ^ 0xff]))
    node.start()
    said = node.stderr()
    assert "corrupt record at offset %d" % off in said, said[-3000:]
    assert "kept in" in said and ".corrupt" in said, said[-3000:]
    before = [[int(k.split("-")[1]), acked[int(k.split("-")[1])]]
              for _, k, _ in recs[:120]]
    res = getcheck(harness, before)
    assert res["ok"] == 120, res      # nothing before it is lost
    after = [[int(k.split("-")[1]), acked[int(k.split("-")[1])]]
             for _, k, _ in recs[120:]]
    res = getcheck(harness, after)
    assert res["ok"] == 0, res        # nothing from it on was applied
    assert os.path.getsize(seg + ".corrupt") > 0
    assert node.stop() == 0


def test_fsync_every_ms_syncs_on_its_clock(harness, tmp_path):
    log_dir = str(tmp_path / "log")
    harness.setup(clients=1)
    node = harness.start_node(conf=durable_conf(log_dir, "every_ms 5"))
    assert "fsync every 5 ms (a power cut may lose the last 5 ms" in node.stderr()
    out, _ = putstream(harness, 500, window=8).communicate(timeout=60)
    assert len(acked_of(out)) == 500
    time.sleep(0.1)
    st = node.telemetry("/catena/durable")["/catena/durable"]
    assert st["fsync"] == "every_ms" and st["fsync_every_ms"] == 5, st
    assert st["syncs"] >= 1 and st["fsync_latency"]["count"] >= 1 and st["lag_bytes"] == 0, st
    assert st["bytes_on_disk"] >= st["bytes_written"] > 0, st
    assert node.stop() == 0


def test_bad_durability_settings_stop_the_node_with_a_clear_error(harness, tmp_path):
    harness.setup(clients=1)
    node = harness.start_node(conf=durable_conf(str(tmp_path / "log"), "sometimes"),
                              wait_ready=False)
    rc = node.proc.wait(30)
    assert rc == 2, node.stderr()
    assert "[node] fsync: expected always or every_ms N" in node.stderr(), node.stderr()
    node.stop()
    afile = tmp_path / "not-a-dir"
    afile.write_text("x")
    node = harness.start_node(conf=durable_conf(str(afile)), wait_ready=False)
    rc = node.proc.wait(30)
    assert rc == 2, node.stderr()
    assert "durability = log" in node.stderr() and "not-a-dir" in node.stderr(), node.stderr()
    node.stop()


def test_fsync_always_answers_only_once_the_write_is_on_disk(harness, tmp_path):
    """With the log writer stopped (a disk that does not answer), a PUT is
    applied but not answered; once the writer syncs, the answer leaves. A
    node that answered first and logged later would answer while paused."""
    log_dir = str(tmp_path / "log")
    harness.setup(clients=1)
    node = harness.start_node(conf=durable_conf(log_dir))
    r = harness.ops([{"op": "put", "key": "before", "value": "1"}])
    assert r[0]["status_name"] == "OK", r
    node.telemetry("/catena/faults,log_writer_pause=1")
    r = harness.ops([{"op": "put", "key": "held", "value": "2"}], timeout=0.3, retries=3)
    assert "timeout" in r[0], r          # applied, logged in memory, not answered
    st = node.telemetry("/catena/durable", "/catena/stats")
    assert st["/catena/durable"]["lag_bytes"] > 0, st
    assert st["/catena/stats"]["log_replies_parked"] >= 1, st
    node.telemetry("/catena/faults,log_writer_pause=0")
    # The parked answer leaves (or a retry finds the write done).
    r = harness.ops([{"op": "get", "key": "held"}])
    assert r[0]["status_name"] == "OK" and r[0]["value_text"] == "2", r
    assert node.telemetry("/catena/durable")["/catena/durable"]["lag_bytes"] == 0
    assert node.stop() == 0


def test_snapshots_bound_the_log_and_a_restart_replays_from_the_newest(harness, tmp_path):
    """log_snapshot_mb = 1 and PUTs of about 1 KiB: a snapshot per ~1000
    PUTs. Once two are taken the segments before the older one are gone;
    kill -9 under a write load, restart: the newest snapshot and the
    segments after it give back every acknowledged PUT of both streams."""
    log_dir = str(tmp_path / "log")
    pad = 1000
    harness.setup(clients=1)
    node = harness.start_node(workers=2, conf=durable_conf(
        log_dir, extra="log_snapshot_mb = 1\n"))
    out, _ = putstream(harness, 2400, window=8, pad=pad).communicate(timeout=120)
    first = acked_of(out)
    assert len(first) == 2400, out[-500:]
    deadline = time.time() + 30
    while True:
        st = node.telemetry("/catena/durable")["/catena/durable"]
        if st["snapshots"] >= 2 or time.time() > deadline:
            break
        time.sleep(0.05)
    assert st["snapshots"] >= 2 and st["snapshot_errors"] == 0, st
    assert st["segments_deleted"] >= 1 and st["last_snapshot_keys"] > 0, st
    assert st["last_snapshot_bytes"] > 1000 * st["last_snapshot_keys"], st
    assert "seg-0000000000000001.clog" not in segments(log_dir), os.listdir(log_dir)
    snaps = sorted(f for f in os.listdir(log_dir) if f.endswith(".csnap"))
    assert len(snaps) == 2, os.listdir(log_dir)   # the newest and its fallback
    # The log on disk is bounded by the snapshots, not by what was written.
    assert st["bytes_on_disk"] < st["bytes_written"], st
    w = putstream(harness, 100000, window=8, retries=3, prefix="e", pad=pad)
    time.sleep(0.5)
    node.proc.kill()
    assert node.stop() == -9
    node.returncode = None
    out, err = w.communicate(timeout=60)
    second = acked_of(out)
    assert len(second) >= 50, (len(second), err[-2000:])
    node.start()
    said = node.stderr()
    assert "durability: snapshot " in said, said[-3000:]
    st = node.telemetry("/catena/durable")["/catena/durable"]
    assert st["replay_snapshot_records"] > 0 and st["replay_errors"] == 0, st
    assert st["snapshots_damaged"] == 0, st
    res = getcheck(harness, first, pad=pad)
    assert res["ok"] == len(first), res
    res = getcheck(harness, second, prefix="e", pad=pad)
    assert res["ok"] == len(second), res
    # The newest snapshot damaged: set aside, the older one and its
    # segments replayed instead, nothing lost.
    assert node.stop() == 0
    snaps = sorted(f for f in os.listdir(log_dir) if f.endswith(".csnap"))
    assert len(snaps) >= 2, os.listdir(log_dir)
    flip(os.path.join(log_dir, snaps[-1]), 100)
    node.start()
    said = node.stderr()
    assert "damaged (the records' checksum or length is wrong)" in said, said[-3000:]
    assert node.telemetry("/catena/durable")["/catena/durable"]["snapshots_damaged"] == 1
    assert os.path.exists(os.path.join(log_dir, snaps[-1] + ".damaged"))
    assert getcheck(harness, first, pad=pad)["ok"] == len(first)
    assert getcheck(harness, second, prefix="e", pad=pad)["ok"] == len(second)
    # Every snapshot damaged, and the segments before them gone: the node
    # refuses to start with less than its disk held.
    assert node.stop() == 0
    for f in os.listdir(log_dir):
        if f.endswith(".csnap"):
            flip(os.path.join(log_dir, f), 100)
    node.start(wait_ready=False)
    assert node.proc.wait(30) == 2, node.stderr()[-3000:]
    assert "refusing to start with less than the log held" in node.stderr()
    node.stop()


def flip(path, off):
    with open(path, "r+b") as f:
        f.seek(off)
        b = f.read(1)
        f.seek(off)
        f.write(bytes([b[0] ^ 0x40]))
