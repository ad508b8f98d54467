#!/usr/bin/python3
"""
Write catenactl's bash completion from control/mgmt_cmds.def, the table
catenactl parses its command line with: the SYNTAX column of every row
becomes one entry of the completion's command list, so a row added to the
table completes with no edit here. Run by meson (config/bash-completion/
meson.build): gen-catenactl.py MGMT_CMDS_DEF TEMPLATE OUTPUT.
"""

import re
import sys


def syntaxes(def_text):
    rows = re.findall(r'^CAT_MGMT_CMD\(\s*\w+,\s*"\w+",\s*\w+,\s*"([^"]+)"',
                      def_text, re.M)
    if not rows:
        sys.exit("gen-catenactl.py: no CAT_MGMT_CMD rows in the table")
    return rows


def main():
    if len(sys.argv) != 4:
        sys.exit("usage: gen-catenactl.py MGMT_CMDS_DEF TEMPLATE OUTPUT")
    with open(sys.argv[1]) as f:
        rows = syntaxes(f.read())
    with open(sys.argv[2]) as f:
        template = f.read()
    for r in rows:
        if "'" in r:
            sys.exit("gen-catenactl.py: a quote in syntax %r" % r)
    listing = "\n".join("    '%s'" % r for r in rows + ["help"])
    with open(sys.argv[3], "w") as f:
        f.write(template.replace("@SYNTAXES@", listing))


if __name__ == "__main__":
    main()
