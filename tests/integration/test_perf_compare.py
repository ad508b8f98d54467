"""
Scenario: the side-by-side benchmark (perf/compare.sh --quick) runs on this
machine in one go: catena over memif (one node, chains of 2 and 3), catena
through the kernel UDP path, Redis alone and with two replicas + WAIT, and
memcached; every row measures a nonzero throughput, and the JSON and the
plots are written. A smoke test: it checks that the benchmark works, never
how fast anything is. Missing peer software is a failure, not a skip:
scripts/setup.sh installs it.

Also: catena-bench refuses bad options with a clear message and exit
status 64, before it starts DPDK.
"""

import json
import os
import shutil
import subprocess

import pytest

import sanitizer

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))


def _build():
    return os.environ.get("CATENA_BUILD") or os.path.join(REPO, "build")


def test_compare_quick_measures_every_system_and_writes_json_and_plots(privileges, hugepages, tmp_path):
    missing = [t for t in ("redis-server", "redis-cli", "memcached", "gnuplot")
               if shutil.which(t) is None]
    if missing:
        pytest.fail("perf/compare.sh needs %s: run `bash scripts/setup.sh` (it installs "
                    "redis-server, memcached and gnuplot-nox)" % ", ".join(missing),
                    pytrace=False)
    out = tmp_path / "compare"
    p = subprocess.run(["bash", os.path.join(REPO, "perf", "compare.sh"), "--quick",
                        "--build", _build(), "--out", str(out)],
                       capture_output=True, text=True, timeout=600)
    sanitizer.check("perf/compare.sh", p.stdout, p.stderr)
    log = "stdout:\n%s\nstderr (tail):\n%s" % (p.stdout, p.stderr[-4000:])
    assert p.returncode == 0, log
    doc = json.load(open(out / "compare.json"))
    systems = {r["system"]: r for r in doc["rows"]}
    for want in ("catena 1 node", "catena chain 2", "catena chain 3",
                 "catena 1 node, busy poll", "catena 1 node peak GET",
                 "catena 1 node (kernel UDP)", "catena chain 3 (kernel UDP)",
                 "catena 1 node (tap, interrupt)", "catena chain 3 (tap, interrupt)",
                 "redis", "redis + 2 replicas, WAIT 2", "memcached"):
        assert want in systems, "row %r missing\n%s" % (want, log)
        assert systems[want]["ops_per_sec"] > 0, "%r measured nothing\n%s" % (want, log)
        if "peak" not in want:
            assert systems[want]["PUT"]["count"] > 0, "%r: no PUT measured\n%s" % (want, log)
    # Capacity apart from the client: the node's busy share and requests
    # per busy second, the bench's, and which side saturated.
    peak = json.load(open(systems["catena 1 node peak GET"]["raw"]))["runs"][-1]["capacity"]
    assert 0 < peak["bench"]["busy_frac"] <= 1 and peak["bench"]["replies_per_busy_s"] > 0, peak
    assert len(peak["nodes"]) == 1 and 0 < peak["nodes"][0]["busy_frac"] <= 1, peak
    assert peak["nodes"][0]["requests_per_busy_s"] > 0, peak
    assert peak["saturated"] in ("neither", "catena-bench", "node catcmp-n1",
                                 "node catcmp-n1 and catena-bench"), peak
    assert "M requests per busy second" in p.stdout, log
    # The table names each row's transport.
    assert "memif" in p.stdout and "kernel UDP" in p.stdout and "TCP loopback" in p.stdout, log
    assert "net_tap" in p.stdout and "idle=interrupt" in p.stdout, log
    for png in ("compare-latency.png", "compare-dist.png", "sweep.png"):
        f = out / png
        assert f.exists() and f.stat().st_size > 1000, "%s not written\n%s" % (png, log)
        assert f.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", png
    # Nothing left behind: namespaces and hugepage files of the run.
    ns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert "catcmp" not in ns, ns
    assert not [f for f in os.listdir("/dev/hugepages") if f.startswith("catcmp")]


@pytest.mark.parametrize("args, message", [
    (["--ip", "10.0.0.1", "--node", "10.0.0.2", "--bogus"], "unknown option"),
    (["--ip", "10.0.0.1", "--node", "10.0.0.2", "--rate", "fast"], "--rate: not a rate"),
    (["--ip", "10.0.0.1", "--node", "10.0.0.2", "--sweep", "100,x"], "--sweep: not a rate"),
    (["--ip", "10.0.0.1", "--map", "/nonexistent/cluster.map"], "--map /nonexistent/cluster.map"),
    (["--ip", "10.0.0.1"], "exactly one of --node"),
    (["--node", "10.0.0.2"], "--ip is required"),
    (["--ip", "10.0.0.1", "--node", "10.0.0.2", "--get", "50", "--put", "20"], "must be 100"),
    (["--ip", "10.0.0.1", "--node", "10.0.0.2", "--value-size", "2000"], "--value-size too large"),
])
def test_catena_bench_rejects_bad_options_before_starting_dpdk(args, message):
    exe = os.path.join(_build(), "perf", "catena-bench")
    assert os.access(exe, os.X_OK), "%s not built" % exe
    p = subprocess.run([exe, "--no-pci", "--no-huge", "-m", "64", "--file-prefix",
                        "catbopt%d" % os.getpid(), "--"] + args,
                       capture_output=True, text=True, timeout=30)
    sanitizer.check("catena-bench", p.stdout, p.stderr)
    assert p.returncode == 64, p.stdout + p.stderr
    assert message in p.stderr, p.stderr
    assert not os.path.exists("/var/run/dpdk/catbopt%d" % os.getpid())
