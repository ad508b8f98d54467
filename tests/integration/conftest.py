"""
Fixtures of the catena integration suite: locate the built binaries, check
hugepages, build a namespace topology per test, start/stop catena-node in
it, and run catena-cli / workload.py inside client namespaces. Teardown
always kills what a test started and deletes the namespaces it made; no
packet is ever sent from the root namespace. Against a sanitizer build a
report from any process a test started fails that test (sanitizer.py).
"""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)

import netns  # noqa: E402
import sanitizer  # noqa: E402

PYTHON = "/usr/bin/python3"
TELEMETRY = "/usr/bin/dpdk-telemetry.py"
WORKLOAD = os.path.join(HERE, "workload.py")
READY_TIMEOUT = 20.0
STOP_TIMEOUT = 15.0

_counter = [0]
_live_namespaces = set()   # safety net for the session finalizer


def _next(tag):
    _counter[0] += 1
    return "%s%s%d" % (netns.pid_tag(), tag, _counter[0])


# --- session checks ---

@pytest.fixture(scope="session")
def build_dir():
    return os.environ.get("CATENA_BUILD") or os.path.join(REPO, "build")


@pytest.fixture(scope="session")
def binaries(build_dir):
    """Paths of catena-node and catena-cli; a missing binary is a FAILURE:
    an integration suite that skips when nothing was built proves nothing."""
    node = os.path.join(build_dir, "dataplane", "catena-node")
    cli = os.path.join(build_dir, "client", "catena-cli")
    missing = [p for p in (node, cli) if not os.access(p, os.X_OK)]
    if missing:
        pytest.fail("catena binaries not found: %s (set CATENA_BUILD to the "
                    "meson build directory, e.g. `meson setup build && ninja "
                    "-C build`)" % ", ".join(missing), pytrace=False)
    return {"node": node, "cli": cli}


@pytest.fixture(scope="session")
def privileges():
    if os.geteuid() != 0:
        pytest.fail("the integration tests create network namespaces and run "
                    "DPDK: run them as root", pytrace=False)


def hugetlbfs_mounts():
    out = []
    with open("/proc/mounts") as f:
        for line in f:
            parts = line.split()
            if len(parts) > 2 and parts[2] == "hugetlbfs":
                out.append(parts[1])
    return out


@pytest.fixture(scope="session")
def hugepages():
    with open("/proc/sys/vm/nr_hugepages") as f:
        n = int(f.read().strip() or 0)
    mounts = hugetlbfs_mounts()
    if n <= 0 or not mounts:
        pytest.fail("hugepages are not set up (nr_hugepages=%d, hugetlbfs "
                    "mounts: %s): run `scripts/setup.sh` as root first"
                    % (n, mounts or "none"), pytrace=False)
    return mounts


@pytest.fixture(scope="session")
def _sanitizer_logs(tmp_path_factory):
    """ASan/UBSan options for every process the session starts, ASan's
    reports in one directory (sanitizer.py)."""
    d = str(tmp_path_factory.getbasetemp() / "sanitizer-logs")
    sanitizer.configure(d)
    return d


@pytest.fixture(autouse=True)
def _sanitizer_check(_sanitizer_logs, tmp_path):
    """Fail the test if a process it started printed a sanitizer report.
    Autouse, so set up before and torn down after the test's own fixtures:
    the nodes' and catena-control's exits (LeakSanitizer) come first."""
    w = sanitizer.Watch(_sanitizer_logs)
    w.start()
    yield
    found = w.reports(str(tmp_path))
    if found:
        text = sanitizer.format_reports(found)
        # Also on stderr ("Captured stderr teardown"): when another
        # fixture's teardown failed too (a node or catena-control exiting
        # nonzero after LeakSanitizer's report), pytest shows only the
        # first error, and ASan's report is not in the process's stderr.
        sys.stderr.write(text + "\n")
        pytest.fail(text, pytrace=False)


@pytest.fixture(scope="session", autouse=True)
def _namespace_safety_net():
    yield
    # Only names this session created and failed to delete.
    for ns in list(_live_namespaces):
        netns.run("ip", "netns", "del", ns, check=False)


# --- the node ---

class Node:
    """One catena-node process inside a node namespace."""

    def __init__(self, harness, ns, ip, workers, tmp, no_huge, sets,
                 conf_extra, idle, qpairs=None, iface="vn1"):
        self.h = harness
        self.ns = ns
        self.ip = ip
        self.workers = workers
        self.prefix = _next("n")
        self.dir = tmp
        self.conf = os.path.join(tmp, "node-%s.conf" % self.prefix)
        self.stdout_path = os.path.join(tmp, "node-%s.stdout" % self.prefix)
        self.stderr_path = os.path.join(tmp, "node-%s.stderr" % self.prefix)
        self.proc = None
        self.ready = None
        self.returncode = None
        conf = ("[node]\nid = 1\nip = %s\nidle = backoff\n"
                "[store]\nslots = 1024\n" % ip)
        if conf_extra is not None:
            conf = conf_extra(conf)
        with open(self.conf, "w") as f:
            f.write(conf)
        # Two cores here: worker i runs on cpu i % 2 (0@0,1@1,2@0 ...).
        eal = (["-l", "0,1"] if workers == 1 else
               ["--lcores", ",".join(["0@0"] + ["%d@%d" % (i, i % 2)
                                               for i in range(1, workers + 1)])])
        eal += ["--no-pci", "--file-prefix", self.prefix]
        eal += (["--no-huge", "-m", "256"] if no_huge else
                ["--huge-unlink", "-m", "256"])
        eal += ["--vdev", "net_af_packet0,iface=%s,qpairs=%d"
                % (iface, qpairs or workers)]
        app = ["--config", self.conf]
        for s in sets:
            app += ["--set", s]
        if idle:
            app += ["--idle", idle]
        self.cmd = netns.nsexec(ns, harness.bins["node"], *eal, "--", *app)

    def start(self, wait_ready=True):
        # A restart truncates the last run's output: its reports first.
        sanitizer.check_file(self.stderr_path)
        sanitizer.check_file(self.stdout_path)
        self.out_f = open(self.stdout_path, "wb")
        self.err_f = open(self.stderr_path, "wb")
        # `ip netns exec` execs the node, so proc.pid is the node itself.
        self.proc = subprocess.Popen(self.cmd, stdout=self.out_f,
                                     stderr=self.err_f,
                                     stdin=subprocess.DEVNULL)
        if wait_ready:
            self.wait_ready()
        return self

    def stdout(self):
        with open(self.stdout_path, errors="replace") as f:
            return f.read()

    def stderr(self):
        with open(self.stderr_path, errors="replace") as f:
            return f.read()

    def wait_ready(self, timeout=READY_TIMEOUT):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.stdout().splitlines():
                if line.startswith("catena-node: ready"):
                    self.ready = dict(kv.split("=", 1) for kv in line.split()[2:])
                    return self.ready
            rc = self.proc.poll()
            if rc is not None:
                pytest.fail("catena-node exited with %d before `ready`.\n"
                            "command: %s\nstderr:\n%s\nstdout:\n%s"
                            % (rc, " ".join(self.cmd), self.stderr()[-4000:],
                               self.stdout()[-2000:]), pytrace=False)
            time.sleep(0.05)
        pytest.fail("catena-node not ready after %.0f s.\ncommand: %s\n"
                    "stderr:\n%s\nstdout:\n%s"
                    % (timeout, " ".join(self.cmd), self.stderr()[-4000:],
                       self.stdout()[-2000:]), pytrace=False)

    def stop(self, sig=signal.SIGTERM, timeout=STOP_TIMEOUT):
        """Signal the node and wait; returns its exit status (None if it
        had to be killed)."""
        if self.proc is None:
            return self.returncode
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                self.returncode = "killed after %ss" % timeout
        if self.returncode is None:
            self.returncode = self.proc.returncode
        self.proc = None
        self.out_f.close()
        self.err_f.close()
        return self.returncode

    def hugepage_leftovers(self):
        out = []
        for mnt in hugetlbfs_mounts():
            try:
                out += [os.path.join(mnt, f) for f in os.listdir(mnt)
                        if f.startswith(self.prefix)]
            except OSError:
                pass
        return out

    def cleanup_files(self):
        for p in self.hugepage_leftovers():
            try:
                os.unlink(p)
            except OSError:
                pass
        netns.run("rm", "-rf", "/var/run/dpdk/" + self.prefix, check=False)

    def telemetry(self, *cmds, timeout=10):
        """Run DPDK telemetry commands; returns {cmd: value}."""
        p = netns.run(*netns.nsexec(self.ns, PYTHON, TELEMETRY, "-f",
                                    self.prefix),
                      input="".join(c + "\n" for c in cmds), check=False,
                      timeout=timeout)
        # One JSON line per command, in order, keyed by the command without
        # its ",params" part.
        out = {}
        todo = list(cmds)
        for line in p.stdout.splitlines():
            line = line.strip()
            if not line.startswith("{") or not todo:
                continue
            try:
                j = json.loads(line)
            except ValueError:
                continue
            base = todo[0].split(",", 1)[0]
            if len(j) == 1 and base in j:
                out[todo.pop(0)] = j[base]
        missing = [c for c in cmds if c not in out]
        if missing:
            pytest.fail("telemetry %s gave no answer for %s (rc %d)\nstdout:\n"
                        "%s\nstderr:\n%s" % (self.prefix, missing, p.returncode,
                                             p.stdout[-3000:], p.stderr[-3000:]),
                        pytrace=False)
        return out

    def stats(self):
        return self.telemetry("/catena/stats")["/catena/stats"]

    @staticmethod
    def delta(before, after, name):
        return int(after.get(name, 0)) - int(before.get(name, 0))

    @staticmethod
    def drops(stats):
        """The drop_* counters of a /catena/stats answer."""
        return {k: int(v) for k, v in stats.items()
                if k.startswith("drop_") and isinstance(v, (int, float))}


# --- the harness: topology + nodes + client helpers ---

class Harness:
    def __init__(self, bins, tmp_path):
        self.bins = bins
        self.tmp = str(tmp_path)
        self.topo = None
        self.nodes = []
        self.procs = []

    def setup(self, clients=1, mtu=1500):
        base = netns.pick_base(_next("t"))
        net = (os.getpid() % 200) + 20
        self.topo = netns.Topology(base, net, mtu=mtu)
        try:
            self.topo.create_bridge()
            _live_namespaces.add(self.topo.bridge_ns)
            self.topo.add_node()
            for _ in range(clients):
                self.topo.add_client()
            _live_namespaces.update(self.topo.created)
            self.topo.wait_up()
        except Exception:
            self.teardown_topology()
            raise
        return self

    @property
    def node_ip(self):
        return self.topo.nodes[0]["ip"]

    @property
    def clients(self):
        return self.topo.clients

    def start_node(self, workers=1, no_huge=False, sets=(), conf=None,
                   idle="backoff", wait_ready=True, qpairs=None):
        n = Node(self, self.topo.nodes[0]["ns"], self.node_ip, workers,
                 self.tmp, no_huge, list(sets), conf, idle, qpairs)
        self.nodes.append(n)
        n.start(wait_ready)
        return n

    @property
    def node(self):
        return self.nodes[-1]

    # clients
    def cli(self, *args, client=0, timeout=30, host=None):
        cns = self.clients[client]["ns"]
        cmd = netns.nsexec(cns, self.bins["cli"], "-H", host or self.node_ip,
                           *[str(a) for a in args])
        p = subprocess.run(cmd, capture_output=True, text=True,
                           timeout=timeout)
        sanitizer.check("catena-cli %s" % " ".join(cmd[4:]), p.stderr,
                        p.stdout)
        return p

    def _workload_cmd(self, args, client):
        data = json.dumps(dict({"host": self.node_ip}, **args))
        if len(data) > 60000:
            path = os.path.join(self.tmp, "wl-%d.json" % len(self.procs))
            with open(path, "w") as f:
                f.write(data)
            data = "@" + path
        return netns.nsexec(self.clients[client]["ns"], PYTHON, WORKLOAD,
                            data)

    def workload_start(self, args, client=0):
        p = subprocess.Popen(self._workload_cmd(args, client),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
        self.procs.append(p)
        return p

    def workload_wait(self, p, timeout=180):
        try:
            out, err = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
            pytest.fail("workload timed out after %ss\nstderr:\n%s"
                        % (timeout, err[-4000:]), pytrace=False)
        if p.returncode != 0:
            pytest.fail("workload failed (exit %d)\nstderr:\n%s\nstdout:\n%s"
                        % (p.returncode, err[-4000:], out[-2000:]),
                        pytrace=False)
        return json.loads(out.strip().splitlines()[-1])

    def workload(self, args, client=0, timeout=180):
        return self.workload_wait(self.workload_start(args, client), timeout)

    def ops(self, ops, client=0, **kw):
        """Run request dicts in one client; returns the list of results."""
        return self.workload(dict({"mode": "ops", "ops": ops}, **kw),
                             client)["results"]

    # teardown
    def teardown_topology(self):
        if self.topo is not None:
            try:
                self.topo.destroy()
            finally:
                _live_namespaces.difference_update(
                    n for n in list(_live_namespaces)
                    if n.startswith(self.topo.base + "-"))
                self.topo = None

    def teardown(self):
        problems = []
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        for n in self.nodes:
            if n.proc is not None:
                rc = n.stop()
                if rc != 0:
                    problems.append("catena-node %s did not exit 0 on SIGTERM "
                                    "(exit %s).\nstderr tail:\n%s"
                                    % (n.prefix, rc, n.stderr()[-3000:]))
            n.cleanup_files()
        try:
            self.teardown_topology()
        except Exception as e:  # keep going: report below
            problems.append(str(e))
        return problems


@pytest.fixture
def harness(binaries, privileges, hugepages, tmp_path):
    """A bare harness: the test calls setup()/start_node() itself. Teardown
    kills workloads, SIGTERMs nodes (asserting exit 0) and deletes the
    namespaces, whatever the test did."""
    h = Harness(binaries, tmp_path)
    try:
        yield h
    finally:
        problems = h.teardown()
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


@pytest.fixture
def cluster(harness):
    """One 1-worker node and one client namespace, node ready."""
    harness.setup(clients=1)
    harness.start_node()
    return harness


@pytest.fixture
def cluster2(harness):
    """One 1-worker node and two client namespaces, node ready."""
    harness.setup(clients=2)
    harness.start_node()
    return harness


# --- three-node clusters (cluster.py) ---

@pytest.fixture
def make_cluster(binaries, privileges, hugepages, tmp_path):
    """A factory: make_cluster(chains=..., craq=..., clients=...,
    workers=...) builds and starts a three-node cluster (cluster.Cluster).
    Teardown SIGTERMs every node (exit 0 asserted), checks that no hugepage
    file is left and that every namespace is deleted, whatever the test
    did."""
    import cluster as cluster_mod   # here: cluster.py imports this module
    made = []

    def make(**kw):
        c = cluster_mod.Cluster(binaries, tmp_path, _next, _live_namespaces)
        made.append(c)
        return c.setup(**kw)

    try:
        yield make
    finally:
        problems = [p for c in made for p in c.teardown()]
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


# --- three-node clusters under catena-control (control.py) ---

@pytest.fixture(scope="session")
def control_binaries(build_dir, binaries):
    """catena-node, catena-cli, catena-control and catenactl; a missing
    one is a FAILURE, as for `binaries`."""
    ctl = os.path.join(build_dir, "control", "catena-control")
    cctl = os.path.join(build_dir, "control", "catenactl")
    missing = [p for p in (ctl, cctl) if not os.access(p, os.X_OK)]
    if missing:
        pytest.fail("control plane binaries not found: %s (set CATENA_BUILD "
                    "to a meson build directory that built control/)"
                    % ", ".join(missing), pytrace=False)
    return dict(binaries, control=ctl, catenactl=cctl)


@pytest.fixture
def make_control_cluster(control_binaries, privileges, hugepages, tmp_path):
    """A factory: make_control_cluster(chains=..., clients=...,
    heartbeat_timeout_ms=..., relay=False, ...) starts catena-control
    (root namespace, Unix sockets under tmp_path, initial_map = the
    cluster's map) and a three-node cluster (cluster.Cluster) whose nodes
    take their maps from it; returns the cluster, with the control plane
    as cluster.ctl. Teardown: the nodes as make_cluster's, then
    catena-control SIGTERMed (exit 0 asserted)."""
    import cluster as cluster_mod
    import control as control_mod
    made = []

    def make(heartbeat_timeout_ms=800, relay=False, control_conf="",
             control_wrap=(), **kw):
        ctl = control_mod.Control(control_binaries, tmp_path,
                                  heartbeat_timeout_ms=heartbeat_timeout_ms,
                                  relay=relay, extra_conf=control_conf,
                                  wrap=control_wrap)
        c = cluster_mod.Cluster(control_binaries, tmp_path, _next,
                                _live_namespaces)
        c.ctl = ctl
        made.append(c)
        return c.setup(control=ctl, **kw)

    try:
        yield make
    finally:
        problems = []
        for c in made:
            problems += c.teardown()
            if c.ctl is not None:
                problems += c.ctl.teardown()
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)
