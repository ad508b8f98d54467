"""
Scenario: the management command table (control/mgmt_cmds.def) is the one
description both sides use. catena-control runs alone (its map names three
nodes, none of which runs: no namespace needed). Every command `catenactl
help` lists is exactly a row of the table; each, run with example
operands, gets past catenactl's parser (no usage error, exit 64) and reaches
catena-control, which knows the command and every argument catenactl sent
(exit 0, or 1 with a refusal that is neither "unknown cmd" nor "unknown
argument"). A request with an unknown command is refused with the table's
wire names, in the table's order, each once.
"""

import os
import re

import control as control_mod

DEF = os.path.join(os.path.dirname(__file__), "..", "..", "control",
                   "mgmt_cmds.def")

MAP = """epoch 1
slots 64
craq off
node 1 10.99.240.1 02:ca:7e:00:00:01
node 2 10.99.240.2 02:ca:7e:00:00:02
node 3 10.99.240.3 02:ca:7e:00:00:03
chain 1 1 2 3
chain 2 2 3 1
assign all roundrobin
"""

# An example for each operand shape the table uses: a new operand in the
# table needs one here (the test fails naming it).
EXAMPLES = {
    "ID": "9", "CHAIN": "2", "NODE...": ["1", "2"], "[FIRST": "0",
    "[COUNT]]": "4", "[LAST]]": "3", "IP[:PORT]": "10.99.240.9:7471",
    "MAC": "02:ca:7e:00:00:09", "A[-B]": "0-3", "BYTES": "0",
    # Flags: --dry-run changes nothing; --follow would never return.
    "[--dry-run]": "--dry-run", "[--follow]": [],
    # No node is up here: backup is refused before it writes anything,
    # and restore cannot open a file that is not there.
    "FILE": "/tmp/nonexistent-catena-table-test.bak", "[--force]": "--force",
}


def table_rows():
    """(wire, syntax) of every CAT_MGMT_CMD row, in order."""
    text = open(DEF).read()
    rows = re.findall(r'^CAT_MGMT_CMD\(\s*\w+,\s*"(\w+)",\s*\w+,\s*"([^"]+)"',
                      text, re.M)
    assert len(rows) >= 19, rows
    return rows


def example_argv(syntax):
    argv = []
    for w in syntax.split():
        if w[0].islower() or w.startswith("--"):
            argv.append(w)
            continue
        assert w in EXAMPLES, "no example for operand %r of %r" % (w, syntax)
        ex = EXAMPLES[w]
        argv += ex if isinstance(ex, list) else [ex]
    return argv


def test_every_table_command_parses_in_catenactl_and_is_known_to_the_daemon(
        control_binaries, tmp_path):
    map_path = tmp_path / "table.map"
    map_path.write_text(MAP)
    ctl = control_mod.Control(control_binaries, tmp_path)
    try:
        ctl.start(initial_map=str(map_path))
        rows = table_rows()

        # `catenactl help` lists the table, no more and no less.
        p = ctl.ctl("help")
        assert p.returncode == 0, (p.returncode, p.stderr)
        section = p.stdout.split("Commands:\n", 1)[1].split("\n\n", 1)[0]
        listed = [re.split(r"\s{2,}", l.strip())[0]
                  for l in section.splitlines() if not l.startswith("   ")]
        assert listed[-1] == "help", section
        commands = listed[:-1]
        assert commands == [s for _, s in rows], p.stdout

        # Each command line reaches the daemon, which knows it.
        for wire, syntax in rows:
            argv = example_argv(syntax)
            p = ctl.ctl(*argv, timeout=30)
            out = p.stdout + p.stderr
            print("catenactl %s -> exit %d: %s" % (
                " ".join(argv), p.returncode, out.strip().splitlines()[-1:]))
            assert p.returncode in (0, 1), (argv, p.returncode, out)
            assert "unknown cmd" not in out, (argv, out)
            assert "unknown argument" not in out, (argv, out)

        # An unknown command's error lists the table's wire names.
        a = ctl.request({"cmd": "frobnicate"})
        wires = list(dict.fromkeys(w for w, _ in rows))
        assert a == {"ok": False, "error": "unknown cmd 'frobnicate' (%s)"
                     % ", ".join(wires)}, a
        assert ctl.alive()
    finally:
        problems = ctl.teardown()
    assert not problems, problems
