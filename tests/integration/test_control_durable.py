"""
Scenario: a chain 1 -> 2 -> 3 under catena-control whose nodes all run
`durability = log` with `fsync = always` (issue 18), under concurrent
writes and reads (history clients in two client namespaces). Every node
is killed at once (kill -9: a rack losing power, as far as a test can show
it: the page cache survives a kill) and started again.

- All three restart with their logs: each replays its own and says in its
  hello what it holds; catena-control keeps the chain on the most advanced
  log, the others rejoin by state transfer.
- The same, but the node catena-control had kept as the chain's last
  member lost its disk (its log deleted): it comes back empty, and the
  chain is rebuilt from another node's log instead of serving nothing.
- The same, but that node's log lost its newest records (cut short, as a
  power cut does to writes not yet synced with `fsync = every_ms`): the
  chain is rebuilt from the node whose log goes further.
- A backup restored over newer values, then every node killed: the
  restored values come back (a restore goes through the logs).

Then, each time: no acknowledged write is lost, every key's history is
linearizable, the replicas agree (`catenactl verify`), and the epoch
history says which node the chain was rebuilt from and why.
"""

import os
import re
import shutil
import time

from test_cluster_linearizable import KEYS, summary_line
from test_control_backup import get_all, put_all

HB_TIMEOUT_MS = 800
PACE = {"pause": 0.003}


def members(ctl):
    return [ch["members"] for ch in ctl.ctl_json("chains")]


def durable_cluster(make_control_cluster, tmp_path, control_conf=""):
    logs = {i: str(tmp_path / ("log%d" % i)) for i in (1, 2, 3)}
    c = make_control_cluster(
        clients=2, heartbeat_timeout_ms=HB_TIMEOUT_MS,
        control_conf=control_conf,
        node_conf=lambda i: ("durability = log\nfsync = always\n"
                             "log_dir = %s\n" % logs[i]))
    return c, logs


def cut_log(log_dir, keep_fraction):
    """Drop the newest records of a node's log: its newest segment is cut
    to keep_fraction of its length (a record cut in two is a torn tail,
    which replay drops). What a power cut does to writes not yet synced."""
    segs = sorted(f for f in os.listdir(log_dir) if f.endswith(".clog"))
    assert segs, os.listdir(log_dir)
    sizes = [(s, os.path.getsize(os.path.join(log_dir, s))) for s in segs]
    s, n = max(sizes, key=lambda x: x[1])
    with open(os.path.join(log_dir, s), "r+b") as f:
        f.truncate(max(32, int(n * keep_fraction)))


def kill_all_restart(c, logs, damage, seen):
    """kill -9 every node at once, wait until catena-control has failed
    them all, do damage(kept, logs) to the node it kept as the chain's last
    member, start all three again and wait until the chain is whole. seen
    gets "kept" and "final" (the chain's members at the end)."""
    ctl = c.ctl
    for i in (1, 2, 3):
        c.kill9(i)
    m = ctl.wait_for("every node failed",
                     lambda: (all(n["state"] == "failed"
                                  for n in ctl.nodes().values())
                              and members(ctl)),
                     timeout=HB_TIMEOUT_MS / 1000 + 10, period=0.02)
    seen["kept"] = m[0][0]
    assert len(m[0]) == 1, m
    if damage is not None:
        damage(seen["kept"], logs)
    for i in (1, 2, 3):
        c.restart(i)

    def whole():
        ch = ctl.ctl_json("chains")[0]
        return ch["members"] if (len(ch["members"]) == 3 and
                                 "joining" not in ch) else None
    seen["final"] = ctl.wait_for("the chain whole again", whole,
                                 timeout=45, period=0.1)


def power_cut(c, logs, damage=None, seed=91):
    """Histories; meanwhile every node is killed at once, catena-control
    sees them gone, `damage(kept, logs)` is done to the node it kept as the
    chain's last member, and all three start again. Returns what the
    clients saw and the epoch history's reasons."""
    ctl = c.ctl
    seen = {}

    def during(cl):
        time.sleep(1.0 + 2.0)       # start_at is 1 s out; 2 s of load
        kill_all_restart(cl, logs, damage, seen)

    results = c.histories(KEYS, clients_per_ns=3, duration=9.0, seed=seed,
                          max_ops=4000, extra=PACE, during=during)
    c.quiesce(timeout=20)
    c.adopt_map(1)
    c.check_replicas()
    s = c.verify(KEYS, results)
    v = ctl.ctl_json("verify")
    assert v["differ"] == [] and sorted(v["nodes"]) == [1, 2, 3], v
    assert v["slots_checked"] > 0, v
    assert s["unique"] > 0, s
    reasons = [h["reason"] for h in ctl.ctl_json("epoch", "history")["history"]]
    print(summary_line(results, s))
    print("POWER CUT: kept node %d; final chain %s; epochs: %s"
          % (seen["kept"], seen["final"], reasons[1:]))
    return seen, reasons


def rebuilt_from(reasons):
    """The node a rebuild epoch names as its source, or None."""
    for r in reasons:
        m = re.search(r"rebuilt from node (\d+)'s log", r)
        if m:
            return int(m.group(1))
    return None


def test_every_node_killed_at_once_keeps_every_acknowledged_write(
        make_control_cluster, tmp_path):
    c, logs = durable_cluster(make_control_cluster, tmp_path)
    seen, reasons = power_cut(c, logs, seed=91)
    # The kept member's log is as far as any (the tail of an fsync=always
    # chain, or a node ahead of it): the chain goes on from it.
    st = c.ctl.nodes()
    assert all(n["state"] == "up" for n in st.values()), st
    out = c.ctl.ctl("status").stdout
    assert "durable" in out, out


def test_kept_member_lost_its_disk_chain_rebuilt_from_another_log(
        make_control_cluster, tmp_path):
    c, logs = durable_cluster(make_control_cluster, tmp_path)

    def lose_disk(kept, logs):
        shutil.rmtree(logs[kept])

    seen, reasons = power_cut(c, logs, damage=lose_disk, seed=92)
    src = rebuilt_from(reasons)
    assert src is not None and src != seen["kept"], reasons


def test_kept_member_log_cut_short_chain_rebuilt_from_the_longer_log(
        make_control_cluster, tmp_path):
    c, logs = durable_cluster(make_control_cluster, tmp_path)

    def cut(kept, logs):
        cut_log(logs[kept], 0.5)

    seen, reasons = power_cut(c, logs, damage=cut, seed=93)
    src = rebuilt_from(reasons)
    assert src is not None and src != seen["kept"], reasons


def test_a_restore_is_logged_and_survives_every_node_killed(
        make_control_cluster, tmp_path):
    """A restore writes through the nodes' logs like a state transfer
    (the slot emptied, each key, the slot's version): restore a backup
    over newer values, kill every node, and the restored values come
    back, not the newer ones the log had before."""
    c, logs = durable_cluster(make_control_cluster, tmp_path)
    keys = ["r-%d" % i for i in range(150)]
    old = put_all(c, [(k, "old-" + k) for k in keys])
    path = str(tmp_path / "before.bak")
    b = c.ctl.ctl("backup", path, timeout=120)
    assert b.returncode == 0, (b.stdout, b.stderr)
    put_all(c, [(k, "new-" + k) for k in keys])
    r = c.ctl.ctl("restore", path, "--force", timeout=120)
    assert r.returncode == 0, (r.stdout, r.stderr)
    want = {k: ("OK", old[k], "old-" + k) for k in keys}
    assert get_all(c, keys) == want
    seen = {}
    kill_all_restart(c, logs, None, seen)
    got = get_all(c, keys)
    bad = {k: got[k] for k in keys if got[k] != want[k]}
    assert not bad, (len(bad), list(bad.items())[:5])
    c.quiesce(timeout=20)
    c.check_replicas()
