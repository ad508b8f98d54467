"""
Scenario: an operator (or a bug report) asks each binary what it is.
Every catena binary answers `NAME --version` with one line, "NAME
VERSION", and exits 0 without starting anything (no EAL, no socket, no
config read). VERSION is the meson project version, plus "+" and `git
describe --always --dirty` when built from a git checkout, and the same
for every binary of one build.
"""

import json
import os
import re
import subprocess

import pytest

BINARIES = {
    "catena-node": "dataplane",
    "catena-control": "control",
    "catenactl": "control",
    "catena-cli": "client",
    "catena-udp-bench": "perf",
    "catena-bench": "perf",
    "catena-kv-bench": "perf",
    "catena-wakeup-floor": "perf",
    "catena-sim": "tests/sim",
}


def project_version(build_dir):
    p = subprocess.run(["meson", "introspect", "--projectinfo", build_dir],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)["version"]


@pytest.mark.parametrize("name", sorted(BINARIES))
def test_every_binary_prints_name_and_version_and_exits_0(build_dir, name):
    path = os.path.join(build_dir, BINARIES[name], name)
    assert os.access(path, os.X_OK), "%s not built" % path
    # Nowhere to be reached: --version must not try.
    env = dict(os.environ, CATENA_CONTROL="/nonexistent/control.sock",
               CATENA_HOST="192.0.2.1")
    p = subprocess.run([path, "--version"], capture_output=True, text=True,
                       timeout=30, env=env, stdin=subprocess.DEVNULL)
    assert p.returncode == 0, (p.returncode, p.stdout, p.stderr)
    assert p.stderr == "", p.stderr
    lines = p.stdout.splitlines()
    assert len(lines) == 1 and lines[0].split(" ")[0] == name, p.stdout
    version = lines[0].split(" ", 1)[1]
    base = project_version(build_dir)
    assert version == base or version.startswith(base + "+"), version
    assert " " not in version, version

    # The header the build made holds it; built from a git checkout
    # (this tree, when the tests run from one), the description is there.
    with open(os.path.join(build_dir, "replication", "version.h")) as f:
        header = f.read()
    assert '#define CAT_VERSION "%s"' % version in header, header
    repo = os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__))))
    top = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=repo,
                         capture_output=True, text=True, timeout=30)
    if top.returncode == 0 and os.path.samefile(top.stdout.strip(), repo):
        assert re.fullmatch(re.escape(base) + r"\+[0-9A-Za-z.-]+", version), \
            version


def test_catena_node_help_prints_both_halves_of_its_command_line(build_dir):
    node = os.path.join(build_dir, "dataplane", "catena-node")
    for argv in (["--help"], ["-h"]):
        p = subprocess.run([node] + argv, capture_output=True, text=True,
                           timeout=30, stdin=subprocess.DEVNULL)
        assert p.returncode == 0 and p.stderr == "", (argv, p)
        assert p.stdout.startswith("usage: catena-node [EAL args] -- --config FILE"), \
            p.stdout
        for word in ("EAL arguments", "--set SECTION.KEY=VALUE", "--version",
                     "2 bad configuration"):
            assert word in p.stdout, (word, p.stdout)
    # After "--" it is the config parser's --help: the usage line alone.
    p = subprocess.run([node, "--", "--help"], capture_output=True, text=True,
                       timeout=30, stdin=subprocess.DEVNULL)
    assert p.returncode == 0 and p.stdout.startswith("usage: catena-node"), p
