"""
Scenario: a packager runs `DESTDIR=stage meson install` and an operator
then types `man catenactl` and presses Tab after `catenactl`. The
completion lands in share/bash-completion/completions and the man pages
of catenactl, catena-cli, catena-node and catena-control in share/man/man1;
the pages render without groff warnings; every row of the command table
(control/mgmt_cmds.def) is a command catenactl.1 documents and one the
installed completion offers, word by word, with its --flags.
"""

import os
import re
import subprocess

from test_control_mgmt_table import table_rows
from test_deploy_install import build_options

PAGES = ("catenactl", "catena-cli", "catena-node", "catena-control")

DRIVER = r'''
source "$1"; shift
COMP_WORDS=("$@"); COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
_catenactl
printf '%s\n' "${COMPREPLY[@]}"
'''


def complete(script, *words):
    """What the completion offers for the last of words (catenactl first)."""
    p = subprocess.run(["bash", "-c", DRIVER, "driver", script, "catenactl",
                        *words], capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    return set(p.stdout.split())


def test_install_puts_man_pages_and_a_completion_that_follow_the_table(
        build_dir, tmp_path):
    stage = str(tmp_path / "stage")
    p = subprocess.run(["meson", "install", "-C", build_dir, "--quiet",
                        "--destdir", stage], capture_output=True, text=True,
                       timeout=600)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    o = build_options(build_dir)
    share = stage + os.path.join(o["prefix"], o["datadir"])
    mandir = stage + os.path.join(o["prefix"], o["mandir"], "man1")
    script = os.path.join(share, "bash-completion", "completions", "catenactl")
    assert os.path.isfile(script), os.listdir(share)

    for page in PAGES:
        path = os.path.join(mandir, page + ".1")
        assert os.path.isfile(path), (path, os.listdir(mandir))
        g = subprocess.run(["groff", "-man", "-ww", "-z", path],
                           capture_output=True, text=True, timeout=30)
        assert g.returncode == 0 and not g.stderr.strip(), (page, g.stderr)

    man = open(os.path.join(mandir, "catenactl.1")).read()
    # The page's words without troff's font changes and escaped dashes.
    plain = re.sub(r"\\f[BIRP]", "", man).replace("\\-", "-")
    for _, syntax in table_rows():
        words = syntax.split()
        lit = [w for w in words if w[0].islower()]
        assert (".B " + " ".join(lit)) in plain, ("catenactl.1 lacks", syntax)
        # Each command word completes after the ones before it.
        for k, w in enumerate(lit):
            assert w in complete(script, *lit[:k], ""), (syntax, k)
        for w in words[len(lit):]:
            flag = w.strip("[]")
            if flag.startswith("--"):
                assert flag in complete(script, *lit, "--"), (syntax, flag)

    assert {"drain", "undrain", "remove", "add", "join"} <= complete(
        script, "node", "")
    assert complete(script, "--js") == {"--json"}
    assert complete(script, "reshard", "move", "--slots", "0-3", "--") == {"--to"}
