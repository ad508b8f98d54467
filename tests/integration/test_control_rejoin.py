"""
Scenario: one chain 1 -> 2 -> 3 whose map comes from catena-control, under
continuous concurrent writes and reads (history clients in two client
namespaces). A node crashes (SIGKILL) and is started again: the new process
has an empty store.

- The tail, restarted after catena-control removed it: it says hello, is
  seen back, and the chain being one replica short, catena-control makes it
  join: the chain's tail (node 2 now) streams it every slot while clients
  keep writing, then one epoch makes it the tail again.
- The middle, restarted at once, before any heartbeat is missed:
  catena-control tells the restart from the new boot id in its hello,
  takes it out of the chain right away (its data is gone) and lets it
  rejoin the same way.

Then: no acknowledged write is lost, every key's history is linearizable,
the three replicas are identical (telemetry digests and `catenactl
verify`), and `catenactl chains` showed the joiner's progress. Printed,
never asserted: the time from the restart to the node serving as tail.
"""

import time

from test_cluster_linearizable import KEYS, summary_line

HB_TIMEOUT_MS = 800
PACE = {"pause": 0.003}


def members(ctl):
    return [ch["members"] for ch in ctl.ctl_json("chains")]


def crash_restart_rejoin(c, victim, wait_removed_first, seed):
    ctl = c.ctl
    times = {}
    seen_progress = []

    def during(cl):
        time.sleep(1.0 + 1.5)       # start_at is 1 s out; 1.5 s of load
        times["kill"] = cl.kill9(victim)
        if wait_removed_first:
            ctl.wait_for("node %d removed" % victim,
                         lambda: victim not in members(ctl)[0],
                         timeout=HB_TIMEOUT_MS / 1000 + 8, period=0.01)
            times["removed"] = time.monotonic()
        times["restart"] = cl.restart(victim)

        def back():
            chains = ctl.ctl_json("chains")
            if "joining" in chains[0]:
                seen_progress.append(chains[0]["joining"])
            m = chains[0]["members"]
            return m if (len(m) == 3 and "joining" not in chains[0]) else None
        times["final"] = ctl.wait_for("node %d back in the chain" % victim,
                                      back, timeout=30, period=0.05)
        times["back"] = time.monotonic()

    results = c.histories(KEYS, clients_per_ns=3, duration=9.0, seed=seed,
                          max_ops=5000, extra=PACE, during=during)
    assert times["final"][-1] == victim, times["final"]
    t = ctl.nodes()
    assert t[victim]["state"] == "up" and t[victim]["connected"], t[victim]
    hist = ctl.ctl_json("epoch", "history")["history"]
    reasons = [h["reason"] for h in hist]
    assert any("node %d joins it" % victim in r for r in reasons), reasons
    assert any("node %d caught up" % victim in r for r in reasons), reasons
    if not wait_removed_first:
        assert any("node %d restarted" % victim in r for r in reasons), reasons
    # The joiner's progress was visible while it ran.
    assert any("node" in p for p in seen_progress), seen_progress

    c.quiesce(timeout=20)
    c.adopt_map(1)
    assert c.chains[0][-1] == victim, c.chains
    c.check_replicas()
    s = c.verify(KEYS, results)
    v = ctl.ctl_json("verify")
    assert v["differ"] == [] and sorted(v["nodes"]) == [1, 2, 3], v
    assert v["slots_checked"] > 0, v
    st = c.stats(victim)
    assert int(st["store_keys"]) > 0, st
    print(summary_line(results, s))
    print("REJOIN node %d: killed, %srestarted; back as tail %.0f ms after "
          "the restart; epochs: %s"
          % (victim, "removed %.0f ms after the kill, " %
             ((times["removed"] - times["kill"]) * 1000)
             if wait_removed_first else "at once ",
             (times["back"] - times["restart"]) * 1000, reasons[1:]))


def test_tail_crashes_restarts_empty_and_rejoins_by_state_transfer_under_load(
        make_control_cluster):
    c = make_control_cluster(clients=2, heartbeat_timeout_ms=HB_TIMEOUT_MS)
    crash_restart_rejoin(c, 3, wait_removed_first=True, seed=71)


def test_middle_restarted_before_timeout_is_taken_out_by_boot_id_and_rejoins(
        make_control_cluster):
    c = make_control_cluster(clients=2, heartbeat_timeout_ms=HB_TIMEOUT_MS)
    crash_restart_rejoin(c, 2, wait_removed_first=False, seed=72)
