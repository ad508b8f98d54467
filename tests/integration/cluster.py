"""
A three-node catena cluster for the integration tests: a bridge namespace
(bridge-nf-call-* off), three node namespaces whose veth `vnX` carries the
map's MAC 02:ca:7e:00:00:0X before catena-node binds it, and client
namespaces, all on one bridge in a per-run 10.99.N.0/24. The cluster map
(same structure as config/cluster-*.map, with this run's addresses) and
the node configs are written into the test's tmp_path. Also: telemetry
helpers (stats, chains, digests, quiesce), map reload by SIGHUP, nftables
faults in the bridge namespace, and client workloads (cluster_workload.py)
in client namespaces. With setup(control=...) the nodes take their maps
from catena-control (control.py) instead; kill9() crashes a node, link()
takes its veth down or up. Teardown SIGTERMs every node (exit 0 expected),
checks that no hugepage file is left and that every namespace is gone.
Nothing here sends a packet from the root namespace.
"""

import json
import os
import signal
import subprocess
import time

import catena_proto as cp
import lincheck
import netns
import sanitizer
from conftest import PYTHON, Node

HERE = os.path.dirname(os.path.abspath(__file__))
CLUSTER_WORKLOAD = os.path.join(HERE, "cluster_workload.py")

ONE_CHAIN = [[1, 2, 3]]
THREE_CHAINS = [[1, 2, 3], [2, 3, 1], [3, 1, 2]]   # config/cluster-3chains.map

_instances = [0]


def mac_of(i):
    return "02:ca:7e:00:00:%02x" % i


def check_histories(hist, max_states=None):
    """lincheck, key by key, on ops recorded by cluster_workload.py (dicts
    with lincheck.Op's fields plus bookkeeping). Raises AssertionError with
    the key's whole history (by call time) if one is not linearizable or
    the checker gave up. Returns a summary."""
    by_key = {}
    for o in hist:
        o = {k: v for k, v in o.items() if k != "moved"}
        by_key.setdefault(o["key"], []).append(o)
    summary = {"ops": len(hist),
               "unknown": sum(1 for o in hist if o["out"] == "unknown"),
               "per_key": {}}
    for k, ops in sorted(by_key.items()):
        res = lincheck.check(ops, None, max_states or
                             lincheck.DEFAULT_MAX_STATES)
        summary["per_key"][k] = (len(ops), res.ok, res.states)
        if res.ok is not True:
            lines = [str(lincheck.Op.from_dict(o)) for o in
                     sorted(ops, key=lambda o: o["call"])]
            raise AssertionError(
                "key %s: lincheck %s\n%s\nhistory (%d ops, by call):\n%s"
                % (k, res.ok, res.explain, len(ops), "\n".join(lines[-400:])))
    return summary


class Cluster:
    def __init__(self, bins, tmp, next_name, live_namespaces):
        self.bins = bins
        self.tmp = str(tmp)
        self.next_name = next_name
        self.live = live_namespaces
        self.topo = None
        self.nodes = {}          # node id -> conftest.Node
        self.procs = []
        self.stopped = set()     # node ids under SIGSTOP
        self.map_path = os.path.join(self.tmp, "cluster.map")
        self.epoch = 0
        self.chains = None
        self.craq = False
        self.nft_tables = []     # (family, name) added in the bridge ns
        self.ctl = None          # control.Control, with setup(control=...)
        self.killed = set()      # node ids crashed by kill9()
        self.ids = (1, 2, 3)     # setup(n_nodes=...) may make it more

    # --- building ---

    def map_text(self, epoch, chains, craq=False, roundrobin=None,
                 joins=None):
        """A map like config/cluster-*.map with this run's addresses: all
        three nodes declared (a node left out of every chain is a spare),
        chains as given, slots 0-1023 on one chain or round robin."""
        lines = ["# catena test cluster (tests/integration/cluster.py)",
                 "epoch %d" % epoch, "slots 1024",
                 "craq %s" % ("on" if craq else "off"), ""]
        for i in self.ids:
            lines.append("node %d %s %s" % (i, self.ip(i), mac_of(i)))
        lines.append("")
        for ci, ch in enumerate(chains, 1):
            lines.append("chain %d %s" % (ci, " ".join(map(str, ch))))
        for ci, node in sorted((joins or {}).items()):
            lines.append("join %d %d" % (ci, node))
        lines.append("")
        rr = len(chains) > 1 if roundrobin is None else roundrobin
        lines.append("assign all roundrobin" if rr else "assign 0-1023 1")
        return "\n".join(lines) + "\n"

    def write_map(self, epoch, chains, craq=False, joins=None):
        text = self.map_text(epoch, chains, craq, joins=joins)
        tmp = self.map_path + ".new"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, self.map_path)   # a reload never sees half a file
        self.epoch, self.chains, self.craq = epoch, [list(c) for c in chains], craq
        self.map = cp.ClusterMap(text)
        return text

    def setup(self, chains=ONE_CHAIN, craq=False, clients=2, workers=1,
              conf_extra="", control=None, heartbeat_ms=100, n_nodes=3,
              node_conf=None):
        """workers: int, or {node id: workers} (2 = --lcores 0@0,1@1,2@0
        and qpairs=2). control: a control.Control (not started): it is
        started with this cluster's map as its initial_map, and the nodes
        get `[control] connect` (and no `[cluster] map`: their first map
        comes from catena-control); setup returns once every node has
        applied epoch 1. node_conf: node id -> lines for its [node]
        section (a log_dir of its own, say)."""
        self.ctl = control
        self.ids = tuple(range(1, n_nodes + 1))
        _instances[0] += 1
        base = netns.pick_base(self.next_name("k"))
        net = (os.getpid() * 7 + _instances[0] * 31) % 200 + 20
        self.topo = netns.Topology(base, net)
        try:
            self.topo.create_bridge()
            self.live.add(self.topo.bridge_ns)
            for i in self.ids:
                self.topo.add_node(iface="vn%d" % i, mac=mac_of(i))
            for _ in range(clients):
                self.topo.add_client()
            self.live.update(self.topo.created)
            self.topo.wait_up()
        except Exception:
            self.teardown_topology()
            raise
        self.write_map(1, chains, craq)
        if control is not None:
            control.start(initial_map=self.map_path)
        for i in self.ids:
            w = workers.get(i, 1) if isinstance(workers, dict) else workers
            mine = node_conf(i) if node_conf is not None else ""
            if control is None:
                conf = ("[node]\nid = %d\nip = %s\nidle = backoff\n%s"
                        "[cluster]\nmap = %s\n%s"
                        % (i, self.ip(i), mine, self.map_path, conf_extra))
            else:
                conf = ("[node]\nid = %d\nip = %s\nidle = backoff\n%s"
                        "[store]\nslots = 1024\n"
                        "[control]\nconnect = %s\nheartbeat_ms = %d\n%s"
                        % (i, self.ip(i), mine, control.node_endpoint(i),
                           heartbeat_ms, conf_extra))
            n = Node(self, self.topo.nodes[i - 1]["ns"], self.ip(i), w,
                     self.tmp, False, [], lambda _c, conf=conf: conf,
                     "backoff", iface="vn%d" % i)
            self.nodes[i] = n
            n.start(wait_ready=False)
        for i in self.ids:
            r = self.nodes[i].wait_ready()
            # Under a control plane a node starts without a map (epoch 0).
            assert r["node"] == str(i) and r["epoch"] == (
                "1" if control is None else "0"), r
        if control is not None:
            control.wait_applied(1, self.ids, timeout=15)
        return self

    def ip(self, i):
        return "10.99.%d.%d" % (self.topo.net, i)

    @property
    def seeds(self):
        return [self.ip(i) for i in self.ids[:3]]

    def ns(self, i):
        return self.topo.nodes[i - 1]["ns"]

    def client_ns(self, c):
        return self.topo.clients[c]["ns"]

    # --- telemetry ---

    def stats(self, i):
        return self.nodes[i].stats()

    def chains_of(self, i):
        return self.nodes[i].telemetry("/catena/chains")["/catena/chains"]

    def digests(self, i):
        """{slot: (version, digest)} of every written slot node i
        replicates, plus the page headers. A page lists 128 written slots
        from FIRST on, so pages at 0, 128, ... 896 cover all 1024 slots
        (overlaps are harmless) in one telemetry call."""
        cmds = ["/catena/digest,%d" % f for f in range(0, 1024, 128)]
        pages = self.nodes[i].telemetry(*cmds)
        out = {}
        for p in pages.values():
            for k, e in p.items():
                if k.isdigit() and isinstance(e, dict):
                    out[int(k)] = (int(e["version"]), int(e["digest"]))
        head = pages[cmds[0]]
        assert len(out) == int(head["slots_written"]), (
            "node %d: digest pages list %d slots, slots_written says %s"
            % (i, len(out), head["slots_written"]))
        return out, head

    def quiesce(self, nodes=None, timeout=15.0):
        """Wait until no node holds a write in flight; returns the last
        stats of each node."""
        nodes = nodes or tuple(i for i in self.ids if i not in self.killed)
        deadline = time.monotonic() + timeout
        while True:
            st = {i: self.stats(i) for i in nodes}
            busy = {i: int(s["repl_in_flight"]) for i, s in st.items()
                    if int(s["repl_in_flight"]) != 0}
            if not busy:
                return st
            if time.monotonic() > deadline:
                raise AssertionError("writes still in flight after %.0f s: %r"
                                     % (timeout, busy))
            time.sleep(0.2)

    def check_replicas(self, nodes=None):
        """Every written slot: equal version and digest on every node of
        its chain (under the current map), and absent on the others.
        Returns {node: slots written}."""
        nodes = nodes or tuple(i for i in self.ids if i not in self.killed)
        dig = {i: self.digests(i)[0] for i in nodes}
        bad = []
        slots = set()
        for d in dig.values():
            slots |= set(d)
        for s in sorted(slots):
            members = [n for n in self.map.chain_of(s) if n in nodes]
            vals = {n: dig[n].get(s) for n in members}
            if len(set(vals.values())) != 1 or None in vals.values():
                bad.append("slot %d chain %r: %r" % (s, self.map.chain_of(s),
                                                     vals))
            for n in nodes:
                if n not in self.map.chain_of(s) and s in dig[n]:
                    bad.append("slot %d listed by node %d outside its chain"
                               % (s, n))
        assert not bad, ("replicas differ on %d slots:\n%s"
                         % (len(bad), "\n".join(bad[:30])))
        return {i: len(d) for i, d in dig.items()}

    def faults(self, i, **kv):
        cmd = "/catena/faults" + "".join(",%s=%s" % (k, v)
                                         for k, v in kv.items())
        return self.nodes[i].telemetry(cmd)[cmd]

    # --- map changes and node faults ---

    def reload(self, epoch, chains, nodes, craq=None, timeout=10.0,
               joins=None):
        """Write the map with `epoch` (joins: {chain number: node joining
        it}) and SIGHUP `nodes` in that order, each waited for (`epoch N
        published` in its log)."""
        self.write_map(epoch, chains, self.craq if craq is None else craq,
                       joins=joins)
        for i in nodes:
            self.nodes[i].proc.send_signal(signal.SIGHUP)
            want = "epoch %d published" % epoch
            deadline = time.monotonic() + timeout
            while want not in self.nodes[i].stderr():
                assert time.monotonic() < deadline, (
                    "node %d did not publish epoch %d:\n%s"
                    % (i, epoch, self.nodes[i].stderr()[-2000:]))
                time.sleep(0.05)

    def adopt_map(self, i):
        """Take node i's current map (/catena/map) as the cluster's map
        (self.map, epoch, chains): after catena-control changed it."""
        m = self.nodes[i].telemetry("/catena/map")["/catena/map"]
        lines = m["lines"]
        text = "".join(l + "\n" for l in lines) if isinstance(lines, list) \
            else str(lines)
        self.map = cp.ClusterMap(text)
        self.epoch = int(m["epoch"])
        self.chains = [list(self.map.chains[c])
                       for c in self.map.chain_order]
        return self.map

    def kill9(self, i):
        """SIGKILL node i (a crash) and reap it; returns the monotonic time
        of the kill. Teardown does not expect an exit status from it."""
        n = self.nodes[i]
        t = time.monotonic()
        n.proc.kill()
        n.proc.wait()
        n.returncode = n.proc.returncode
        n.proc = None
        n.out_f.close()
        n.err_f.close()
        self.killed.add(i)
        return t

    def restart(self, i):
        """Start node i again after kill9(i): a new process, empty store,
        same config. Returns the monotonic time it was started."""
        t = time.monotonic()
        self.killed.discard(i)
        self.nodes[i].returncode = None   # the crash's status is history
        self.nodes[i].start()
        return t

    def link(self, i, up):
        """Set node i's veth (in its namespace) up or down: the node is cut
        off from the data network (its control channel is a Unix socket:
        cut that separately, control.Relay)."""
        netns.run("ip", "-n", self.ns(i), "link", "set", "vn%d" % i,
                  "up" if up else "down")

    def sigstop(self, i):
        self.nodes[i].proc.send_signal(signal.SIGSTOP)
        self.stopped.add(i)

    def sigcont(self, i):
        self.nodes[i].proc.send_signal(signal.SIGCONT)
        self.stopped.discard(i)

    def nft(self, script):
        p = netns.run(*netns.nsexec(self.topo.bridge_ns, "nft", "-f", "-"),
                      input=script, check=False)
        assert p.returncode == 0, "nft failed: %s\n%s" % (p.stderr, script)

    def nft_json(self, family, table):
        p = netns.run(*netns.nsexec(self.topo.bridge_ns, "nft", "-j", "list",
                                    "table", family, table))
        return json.loads(p.stdout)

    def nft_counters(self, family, table):
        """{rule comment: packets} of every rule with a counter and a
        comment in the table."""
        out = {}
        for item in self.nft_json(family, table)["nftables"]:
            rule = item.get("rule")
            if not rule or "comment" not in rule:
                continue
            for e in rule["expr"]:
                if "counter" in e:
                    out[rule["comment"]] = int(e["counter"]["packets"])
        return out

    # --- clients ---

    def _cmd(self, args, client):
        data = json.dumps(dict({"seeds": self.seeds}, **args))
        if len(data) > 60000:
            path = os.path.join(self.tmp, "cwl-%d.json" % len(self.procs))
            with open(path, "w") as f:
                f.write(data)
            data = "@" + path
        return netns.nsexec(self.client_ns(client), PYTHON, CLUSTER_WORKLOAD,
                            data)

    def start(self, args, client=0):
        p = subprocess.Popen(self._cmd(args, client), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        self.procs.append(p)
        return p

    def wait(self, p, timeout=120):
        try:
            out, err = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
            raise AssertionError("cluster workload timed out after %ss\n%s"
                                 % (timeout, err[-3000:]))
        assert p.returncode == 0, ("cluster workload failed (exit %d)\n%s\n%s"
                                   % (p.returncode, err[-4000:], out[-1000:]))
        return json.loads(out.strip().splitlines()[-1])

    def run(self, args, client=0, timeout=120):
        return self.wait(self.start(args, client), timeout)

    def ops(self, ops, client=0, **kw):
        return self.run(dict({"mode": "ops", "ops": ops}, **kw), client)

    def cli(self, *args, client=0, host=None, timeout=30):
        cmd = netns.nsexec(self.client_ns(client), self.bins["cli"], "-H",
                           host or self.ip(1), *[str(a) for a in args])
        p = subprocess.run(cmd, capture_output=True, text=True,
                           timeout=timeout)
        sanitizer.check("catena-cli %s" % " ".join(cmd[4:]), p.stderr,
                        p.stdout)
        return p

    def histories(self, keys, clients_per_ns=3, duration=8.0, seed=1,
                  max_ops=2500, extra=None, during=None):
        """Run `clients_per_ns` history clients in every client namespace
        at once on `keys`; `during(cluster)` runs meanwhile (faults, map
        changes). Returns the per-client results."""
        start_at = time.time() + 1.0
        procs = []
        cid = 0
        for c in range(len(self.topo.clients)):
            for _ in range(clients_per_ns):
                args = {"mode": "history", "client": cid, "keys": keys,
                        "duration": duration, "seed": seed,
                        "max_ops": max_ops,
                        "start_at": start_at, "unique_prefix": "u%d" % seed}
                args.update(extra or {})
                procs.append(self.start(args, client=c))
                cid += 1
        if during is not None:
            during(self)
        return [self.wait(p, timeout=duration + 90) for p in procs]

    def verify(self, keys, results, client=0, max_states=None):
        """Final reads of `keys` and of every acknowledged unique write,
        then lincheck per key on the whole history (final reads included).
        Returns a summary; asserts on every failure."""
        unique = [kv for r in results for kv in r["unique"]]
        errors = [e for r in results for e in r["errors"]]
        assert not errors, "unexpected statuses: %r" % errors[:10]
        fin = self.run({"mode": "read", "keys": keys, "unique": unique},
                       client=client)
        assert fin["n_missing"] == 0, (
            "%d of %d acknowledged unique writes lost: %r"
            % (fin["n_missing"], len(unique), fin["unique_missing"][:5]))
        assert all(o["out"] != "unknown" for o in fin["history"]), fin
        hist = [o for r in results for o in r["history"]] + fin["history"]
        summary = check_histories(hist, max_states)
        summary["unique"] = len(unique)
        return summary

    # --- teardown ---

    def teardown_topology(self):
        if self.topo is not None:
            names = list(self.topo.created)
            try:
                self.topo.destroy()
            finally:
                self.live.difference_update(names)
                left = set(names) & netns.existing_namespaces()
                self.topo = None
                if left:
                    raise RuntimeError("namespaces left: %s" % sorted(left))

    def teardown(self):
        """Returns a list of problems (empty = clean)."""
        problems = []
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        for i in list(self.stopped):
            self.sigcont(i)
        for i, n in sorted(self.nodes.items()):
            if n.proc is not None:
                rc = n.stop()
                if rc != 0:
                    problems.append("catena-node %d (%s) did not exit 0 on "
                                    "SIGTERM (exit %s).\nstderr tail:\n%s"
                                    % (i, n.prefix, rc, n.stderr()[-3000:]))
            left = n.hugepage_leftovers()
            if left:
                problems.append("node %d left hugepage files: %r" % (i, left))
            n.cleanup_files()
        try:
            self.teardown_topology()
        except Exception as e:
            problems.append(str(e))
        return problems
