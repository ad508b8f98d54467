"""
Scenario: a newcomer follows the documents, and they are true to the code.
DEPLOY.md's apt-get line on a fresh Debian machine, then meson: every
library meson requires (a `dependency(...)` without `required : false` in
any meson.build) must come from a package on that line; the test finds each
one's pkg-config file, asks dpkg which package installed it, and looks for
that package in the line (and in scripts/setup.sh's PKGS, which the demo
and the tests install from). OPERATIONS.md's catenactl table lists every
command of control/mgmt_cmds.def with its syntax, and its configuration
table every key dataplane/config.c reads, with config.c's default.
"""

import glob
import os
import re
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))


def required_dependencies():
    deps = set()
    for path in glob.glob(os.path.join(REPO, "**", "meson.build"),
                          recursive=True):
        if "/build" in path[len(REPO):]:
            continue
        for m in re.finditer(r"\bdependency\('([^']+)'([^)]*)\)",
                             open(path).read()):
            if "required : false" not in m.group(2) and m.group(1) != "threads":
                deps.add(m.group(1))
    return sorted(deps)


def deploy_apt_packages():
    text = open(os.path.join(REPO, "docs", "DEPLOY.md")).read()
    m = re.search(r"apt-get install ((?:[^\n]*\\\n)*[^\n]*)", text)
    assert m, "DEPLOY.md has no apt-get install line"
    return set(m.group(1).replace("\\\n", " ").split())


def setup_packages():
    text = open(os.path.join(REPO, "scripts", "setup.sh")).read()
    body = text.split("PKGS=(", 1)[1].split("\n)", 1)[0]
    return {w for line in body.splitlines()
            for w in line.split("#", 1)[0].split()}


def package_of(dep):
    pc = subprocess.run(["pkg-config", "--path", dep], capture_output=True,
                        text=True)
    assert pc.returncode == 0, "pkg-config knows no %s" % dep
    path = os.path.realpath(pc.stdout.strip())
    p = subprocess.run(["dpkg", "-S", path], capture_output=True, text=True)
    if p.returncode != 0:   # /lib -> /usr/lib on merged-/usr systems
        p = subprocess.run(["dpkg", "-S", pc.stdout.strip()],
                           capture_output=True, text=True)
    assert p.returncode == 0, "dpkg cannot say who installed %s" % path
    return p.stdout.split(":", 1)[0].strip()


def test_deploy_apt_line_installs_every_required_build_dependency():
    apt, setup = deploy_apt_packages(), setup_packages()
    deps = required_dependencies()
    assert "libmicrohttpd" in deps and "libcrypto" in deps, deps
    missing = []
    for dep in deps:
        pkg = package_of(dep)
        for where, pkgs in (("DEPLOY.md", apt), ("setup.sh", setup)):
            if pkg not in pkgs:
                missing.append("%s (for %s) not in %s" % (pkg, dep, where))
    assert not missing, "\n".join(missing)


def operations_md():
    return open(os.path.join(REPO, "docs", "OPERATIONS.md")).read()


def test_operations_catenactl_table_lists_every_management_command():
    table = [l for l in operations_md().splitlines()
             if l.startswith("| `")]
    firsts = {l.split("|")[1].strip() for l in table}
    cells = " ".join(firsts)
    syntaxes = re.findall(r'CAT_MGMT_CMD\(\w+, "[a-z_]+", \w+,\s*"([^"]+)"',
                          open(os.path.join(REPO, "control",
                                            "mgmt_cmds.def")).read())
    assert len(syntaxes) >= 20, syntaxes
    missing = [x for x in syntaxes if "`%s`" % x not in cells]
    assert not missing, "OPERATIONS.md's catenactl table lacks: %s" % missing
    assert "not implemented" not in operations_md()


def test_operations_config_table_lists_every_key_with_its_default():
    src = open(os.path.join(REPO, "dataplane", "config.c")).read()
    keys = re.findall(r'\{ "([a-z]+)", "([a-z_]+)",\s+K_', src)
    assert len(keys) >= 30, keys
    defaults = dict(re.findall(r"c->([a-z_.]+) = ([0-9]+);", src))
    rows = {}
    for line in operations_md().splitlines():
        m = re.match(r"\| `\[([a-z]+)\] ([a-z_]+)`((?:, `[a-z_]+`)*) \| ([^|]*) \|",
                     line)
        if m:
            for k in [m.group(2)] + re.findall(r"`([a-z_]+)`", m.group(3)):
                rows[(m.group(1), k)] = m.group(4).strip()
    missing = ["[%s] %s" % k for k in keys if k not in rows]
    assert not missing, "OPERATIONS.md's config table lacks: %s" % missing
    # The numeric defaults of the keys the issue found missing, as config.c
    # sets them (cat_config_defaults).
    for (sec, key), field in ((("replication", "transfer_rate"), "repl_xfer_rate"),
                              (("replication", "transfer_slots"), "repl_xfer_slots"),
                              (("replication", "inflight"), "repl_inflight"),
                              (("replication", "dedup"), "repl_dedup")):
        assert rows[(sec, key)] == defaults[field], (sec, key, rows[(sec, key)],
                                                     defaults[field])
