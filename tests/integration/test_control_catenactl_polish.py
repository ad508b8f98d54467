"""
Scenario: an operator at catenactl, catena-control running alone (its map
names three nodes, none of which runs: no namespace needed). Mistakes are
told in the words typed (`node join 9 1` says there is no node 9, not
what node_add's JSON lacks; `status --jsn` is an unknown option; `node`
lists join). `reshard rebalance --dry-run` prints the plan as sentences and
changes nothing; `reshard move` over slots of two chains starts one move
per chain; `events --follow` prints the log, then an event made after it
started; `stats` says what TOTAL sums.
"""

import subprocess
import time

import control as control_mod

MAP = """epoch 1
slots 64
craq off
node 1 10.99.241.1 02:ca:7e:00:00:01
node 2 10.99.241.2 02:ca:7e:00:00:02
node 3 10.99.241.3 02:ca:7e:00:00:03
chain 1 1 2 3
chain 2 2 3 1
chain 3 3 1 2
assign 0-47 1
assign 48-55 2
assign 56-63 3
"""


def start(control_binaries, tmp_path):
    map_path = tmp_path / "polish.map"
    map_path.write_text(MAP)
    ctl = control_mod.Control(control_binaries, tmp_path)
    ctl.start(initial_map=str(map_path))
    return ctl


def test_catenactl_errors_are_in_the_words_typed(control_binaries, tmp_path):
    ctl = start(control_binaries, tmp_path)
    try:
        p = ctl.ctl("node", "join", "9", "1")
        assert p.returncode == 1, (p.returncode, p.stderr)
        assert "node join: no node 9 in the map" in p.stderr, p.stderr
        assert "node_add" not in p.stderr and '"ip"' not in p.stderr, p.stderr

        p = ctl.ctl("status", "--jsn")
        assert p.returncode == 64, p
        assert 'status: unknown option "--jsn"' in p.stderr, p.stderr

        p = ctl.ctl("node", "drain", "--force", "2")
        assert p.returncode == 64 and 'unknown option "--force"' in p.stderr, p

        p = ctl.ctl("node")
        assert p.returncode == 64 and "join" in p.stderr, p.stderr

        # --json after the command is the option, as people type it.
        p = ctl.ctl("status", "--json")
        assert p.returncode == 0 and p.stdout.count("\n") == 1, p
        assert p.stdout.startswith("{") and '"epoch":1' in p.stdout, p.stdout

        p = ctl.ctl("stats")
        assert p.returncode == 0, p.stderr
        assert "store_keys counts every replica" in p.stdout, p.stdout
    finally:
        problems = ctl.teardown()
    assert not problems, problems


def test_rebalance_dry_run_shows_a_plan_and_changes_nothing(control_binaries,
                                                           tmp_path):
    ctl = start(control_binaries, tmp_path)
    try:
        p = ctl.ctl("reshard", "rebalance", "--dry-run")
        assert p.returncode == 0, p.stderr
        out = p.stdout
        assert "{" not in out, out
        assert "plan (--dry-run, nothing changed): 2 moves" in out, out
        assert "1. 13 slots from chain 1 to chain 2" in out, out
        assert "2. 13 slots from chain 1 to chain 3" in out, out
        assert "26 slots move in all" in out, out
        st = ctl.ctl_json("reshard", "status")
        assert st["queued"] == [] and st["rebalance"] is False, st
        assert ctl.epoch() == 1
    finally:
        problems = ctl.teardown()
    assert not problems, problems


def test_move_over_two_chains_starts_one_move_each(control_binaries, tmp_path):
    ctl = start(control_binaries, tmp_path)
    try:
        # 40-47 on chain 1, 48-55 on chain 2 (the target), 56-59 on 3.
        p = ctl.ctl("reshard", "move", "--slots", "40-59", "--to", "2")
        assert p.returncode == 0, p.stderr
        assert "12 slots moving to chain 2 (epoch 2), 2 moves" in p.stdout, p.stdout
        assert "8 slots from chain 1" in p.stdout, p.stdout
        assert "4 slots from chain 3" in p.stdout, p.stdout
        moves = ctl.ctl_json("reshard", "status")["moves"]
        assert sorted((m["from"], m["slots"]) for m in moves) == [(1, 8), (3, 4)], moves
        assert ctl.epoch() == 2
    finally:
        problems = ctl.teardown()
    assert not problems, problems


def test_events_follow_prints_new_events_as_they_come(control_binaries,
                                                      tmp_path):
    ctl = start(control_binaries, tmp_path)
    f = subprocess.Popen([control_binaries["catenactl"], "-s", ctl.mgmt,
                          "events", "--follow"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(1.0)
        assert f.poll() is None, f.stderr.read()
        ctl.result("node_add", node=9, ip="10.99.241.9",
                   mac="02:ca:7e:00:00:09")
        deadline = time.monotonic() + 10
        seen = ""
        import select
        while time.monotonic() < deadline and "node 9 added" not in seen:
            r, _, _ = select.select([f.stdout], [], [], 0.5)
            if r:
                seen += f.stdout.readline()
        assert "node 9 added as a spare" in seen, seen
        assert "epoch 2:" in seen, seen
    finally:
        f.kill()
        f.wait()
        problems = ctl.teardown()
    assert not problems, problems
