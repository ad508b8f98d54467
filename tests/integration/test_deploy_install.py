"""
Scenario: a packager runs `DESTDIR=stage meson install`. The binaries, the
example configs and the systemd units land in the usual places under the
prefix; the units point at the installed binaries and config directory,
reserve hugepages with dpdk-hugepages.py before starting and restart on
failure. Then a node is started exactly as catena-node@.service would start
it (its ExecStart, with the example config and env file copied to the
config directory as docs/DEPLOY.md says), on af_packet in the test's own
namespace, and comes up: ready line, telemetry, clean SIGTERM.
"""

import json
import os
import shlex
import shutil
import subprocess

import pytest

import conftest


def build_options(build_dir):
    p = subprocess.run(["meson", "introspect", "--buildoptions", build_dir],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return {o["name"]: o["value"] for o in json.loads(p.stdout)}


def unit_file(path):
    """{section: {key: [values]}} of a systemd unit (keys may repeat)."""
    out, sec = {}, None
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line[0] in "#;":
                continue
            if line.startswith("[") and line.endswith("]"):
                sec = out.setdefault(line[1:-1], {})
                continue
            k, _, v = line.partition("=")
            assert sec is not None, "key outside a section in %s: %r" % (path, line)
            sec.setdefault(k.strip(), []).append(v.strip())
    return out


def env_file(path):
    """KEY=VALUE lines as systemd's EnvironmentFile reads them (quotes
    removed)."""
    env = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line[0] in "#;":
                continue
            k, _, v = line.partition("=")
            env[k.strip()] = " ".join(shlex.split(v))
    return env


def expand(cmdline, env, instance):
    """A unit's command line as systemd runs it: %i, then $VAR split into
    words and ${VAR} as one word."""
    words = []
    for w in shlex.split(cmdline.replace("%i", instance)):
        if w.startswith("${") and w.endswith("}"):
            words.append(env.get(w[2:-1], ""))
        elif w.startswith("$"):
            words += env.get(w[1:], "").split()
        else:
            words.append(w)
    return words


@pytest.fixture
def staged(build_dir, tmp_path):
    stage = str(tmp_path / "stage")
    p = subprocess.run(["meson", "install", "-C", build_dir, "--quiet",
                        "--destdir", stage], capture_output=True, text=True,
                       timeout=600)
    assert p.returncode == 0, "meson install failed:\n%s\n%s" % (
        p.stdout[-3000:], p.stderr[-3000:])
    o = build_options(build_dir)
    prefix = o["prefix"]

    def inst(*parts):
        return os.path.join(prefix, *parts)

    paths = {
        "prefix": prefix,
        "bindir": inst(o["bindir"]),
        "sysconfdir": inst(o["sysconfdir"], "catena"),
        "examples": inst(o["datadir"], "doc", "catena", "examples"),
        "docdir": inst(o["datadir"], "doc", "catena"),
        "unitdir": o.get("systemd_unitdir") or inst("lib", "systemd", "system"),
    }
    return stage, paths


def test_meson_install_puts_binaries_configs_and_units_in_place(staged):
    stage, d = staged

    def st(p):
        return stage + p

    for b in ("catena-node", "catena-control", "catenactl", "catena-cli"):
        assert os.access(st(os.path.join(d["bindir"], b)), os.X_OK), b
    for f in ("node.conf", "control.conf", "node1.conf", "cluster-3chains.map",
              "cluster-1chain.map", "catena-node.env"):
        assert os.path.isfile(st(os.path.join(d["examples"], f))), f
    for f in ("DEPLOY.md", "OPERATIONS.md", "PROTOCOL.md"):
        assert os.path.isfile(st(os.path.join(d["docdir"], f))), f
    assert os.path.isdir(st(d["sysconfdir"])), d["sysconfdir"]
    # Installed configs name installed files, never the source tree's.
    for f in ("control.conf", "node1.conf"):
        text = open(st(os.path.join(d["examples"], f))).read()
        assert "= config/" not in text, f
        assert d["examples"] + "/cluster-3chains.map" in text, f

    node = unit_file(st(os.path.join(d["unitdir"], "catena-node@.service")))
    ctl = unit_file(st(os.path.join(d["unitdir"], "catena-control.service")))
    for u in (node, ctl):
        assert u["Service"]["Restart"] == ["on-failure"], u
        assert u["Install"]["WantedBy"] == ["multi-user.target"], u
        assert not any("@" in v and v.count("@") > 1 for vs in u["Service"].values()
                       for v in vs), "unsubstituted @VAR@ in %r" % u
    svc = node["Service"]
    assert svc["EnvironmentFile"] == [d["sysconfdir"] + "/%i.env"], svc
    pre = shlex.split(svc["ExecStartPre"][0])
    assert os.path.basename(pre[0]) == "dpdk-hugepages.py", pre
    assert os.access(pre[0], os.X_OK), "%s is not on this machine" % pre[0]
    assert "--reserve" in pre and "--mount" in pre and "--pagesize" in pre, pre
    # Every flag the unit passes exists in this machine's dpdk-hugepages.py.
    helptext = subprocess.run([pre[0], "--help"], capture_output=True,
                              text=True, timeout=30).stdout
    for flag in [w for w in pre if w.startswith("--")]:
        assert flag in helptext, "dpdk-hugepages.py has no %s" % flag
    start = shlex.split(svc["ExecStart"][0])
    assert start[0] == d["bindir"] + "/catena-node", start
    assert "--file-prefix" in start and "--config" in start, start
    assert start[start.index("--config") + 1] == d["sysconfdir"] + "/%i.conf", start
    cstart = shlex.split(ctl["Service"]["ExecStart"][0])
    assert cstart[0] == d["bindir"] + "/catena-control", cstart
    assert cstart[cstart.index("--config") + 1] == d["sysconfdir"] + "/control.conf"
    assert ctl["Service"]["RuntimeDirectory"] == ["catena"], ctl


def test_node_starts_from_the_installed_unit_and_config(staged, harness):
    stage, d = staged
    harness.setup(clients=1)
    instance = "t%d" % os.getpid()
    etc = stage + d["sysconfdir"]
    # What docs/DEPLOY.md tells the operator to do: copy the examples.
    shutil.copy(stage + d["examples"] + "/node.conf", etc + "/%s.conf" % instance)
    env = env_file(stage + d["examples"] + "/catena-node.env")
    assert env["CATENA_EAL_ARGS"] and env["CATENA_HUGEPAGES"], env
    # This machine has no NIC: af_packet on the test's veth instead of
    # the example's PCI address, and this topology's address.
    env["CATENA_EAL_ARGS"] = ("-l 0,1 --no-pci --huge-unlink -m 256 "
                              "--vdev net_af_packet0,iface=vn1,qpairs=1")
    env["CATENA_NODE_ARGS"] = "--ip %s" % harness.node_ip
    with open(etc + "/%s.env" % instance, "w") as f:
        for k, v in env.items():
            f.write('%s="%s"\n' % (k, v))

    unit = unit_file(stage + d["unitdir"] + "/catena-node@.service")
    envf = unit["Service"]["EnvironmentFile"][0].replace("%i", instance)
    argv = expand(unit["Service"]["ExecStart"][0], env_file(stage + envf),
                  instance)
    # The installed paths, under the staging directory.
    argv = [stage + a if a.startswith(d["prefix"] + "/") else a for a in argv]

    node = conftest.Node(harness, harness.topo.nodes[0]["ns"], harness.node_ip,
                         1, harness.tmp, False, [], None, None)
    node.cmd = ["ip", "netns", "exec", node.ns] + argv
    node.prefix = "catena-" + instance
    harness.nodes.append(node)
    ready = node.start().ready
    assert ready["ip"] == harness.node_ip and ready["workers"] == "1", ready
    p = node.telemetry("/catena/port")["/catena/port"]
    assert p["driver"] == "net_af_packet" and p["link"] == "up", p
    res = harness.ops([{"op": "put", "key": "installed", "value": "yes"},
                       {"op": "get", "key": "installed"}])
    assert [r["status_name"] for r in res] == ["OK", "OK"], res
    assert node.stop() == 0, node.stderr()[-2000:]
    assert not node.hugepage_leftovers()
