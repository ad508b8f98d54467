"""
catena-control for the integration tests (docs/CONTROL.md): its config
(state_dir, node channel socket and management socket under the test's
tmp_path, initial_map = the test's cluster map), the process (ready line,
SIGTERM, restart on the same state_dir; or store = etcd, several instances
sharing one etcd and one pair of socket paths, only the leader listening),
catenactl, raw requests on the
management socket, waits on what it reports, and an optional relay per
node on the node channel that a test can cut, so a node can be partitioned
from the control plane as well as from the data network.
catena-control runs in the root namespace but uses only Unix sockets:
nothing here sends an IP packet.
"""

import json
import os
import selectors
import signal
import socket
import subprocess
import threading
import time

import sanitizer

READY_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0


class ControlError(AssertionError):
    pass


class Relay:
    """A Unix-socket relay between one node and catena-control's node
    channel, in a thread of the test process. cut() closes every relayed
    connection and the listening socket (the node's connect then fails and
    it retries with backoff); heal() listens again."""

    def __init__(self, path, target):
        self.path = path
        self.target = target
        self.lock = threading.Lock()
        self.want_listen = True
        self.stop_ev = threading.Event()
        self.accepted = 0
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def cut(self):
        with self.lock:
            self.want_listen = False
        self._settle(False)

    def heal(self):
        with self.lock:
            self.want_listen = True
        self._settle(True)

    def _settle(self, listening, timeout=2.0):
        deadline = time.monotonic() + timeout
        while os.path.exists(self.path) != listening:
            assert time.monotonic() < deadline, "relay %s did not settle" % (
                self.path)
            time.sleep(0.01)

    def close(self):
        self.stop_ev.set()
        self.thread.join(5)

    def _loop(self):
        sel = selectors.DefaultSelector()
        lst = None
        pairs = {}          # socket -> its peer

        def drop(s):
            for x in (s, pairs.get(s)):
                if x is None:
                    continue
                pairs.pop(x, None)
                try:
                    sel.unregister(x)
                except (KeyError, ValueError):
                    pass
                x.close()

        try:
            while not self.stop_ev.is_set():
                with self.lock:
                    want = self.want_listen
                if want and lst is None:
                    lst = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                    if os.path.exists(self.path):
                        os.unlink(self.path)
                    lst.bind(self.path)
                    lst.listen(16)
                    sel.register(lst, selectors.EVENT_READ)
                elif not want and lst is not None:
                    sel.unregister(lst)
                    lst.close()
                    lst = None
                    os.unlink(self.path)
                    for s in list(pairs):
                        drop(s)
                for key, _ in sel.select(0.02):
                    s = key.fileobj
                    if s is lst:
                        a, _ = lst.accept()
                        b = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                        try:
                            b.connect(self.target)
                        except OSError:
                            a.close()
                            b.close()
                            continue
                        self.accepted += 1
                        pairs[a], pairs[b] = b, a
                        sel.register(a, selectors.EVENT_READ)
                        sel.register(b, selectors.EVENT_READ)
                        continue
                    if s not in pairs:
                        continue
                    try:
                        data = s.recv(65536)
                    except OSError:
                        data = b""
                    if not data:
                        drop(s)
                        continue
                    try:
                        pairs[s].sendall(data)
                    except OSError:
                        drop(s)
        finally:
            for s in list(pairs):
                drop(s)
            if lst is not None:
                lst.close()
                try:
                    os.unlink(self.path)
                except OSError:
                    pass


def connect_unix(path, timeout=5.0):
    """A connected Unix stream socket with `timeout` set. A full listen
    backlog makes a non-blocking connect fail with EAGAIN at once (Python
    connects with a timeout that way): retry until `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        try:
            s.connect(path)
            return s
        except BlockingIOError:
            s.close()
            if time.monotonic() > deadline:
                raise
            time.sleep(0.005)
        except OSError:
            s.close()
            raise


class Control:
    """One catena-control process (restartable on the same state_dir).
    With etcd={"endpoints":..., "instance":..., "lease_ms":..., "prefix":...}
    it runs with store = etcd; name (its directory under tmp) and sock_dir
    (where both sockets are: give several instances the same one) let
    several run side by side; start(wait_ready=False) returns once it is
    a follower ("standby" line)."""

    def __init__(self, bins, tmp, heartbeat_timeout_ms=800, relay=False,
                 name="control", etcd=None, sock_dir=None, extra_conf="",
                 wrap=()):
        self.bins = bins
        self.dir = os.path.join(str(tmp), name)
        os.makedirs(self.dir, exist_ok=True)
        self.etcd = etcd
        sock_dir = sock_dir or self.dir
        os.makedirs(sock_dir, exist_ok=True)
        self.state_dir = os.path.join(self.dir, "state")
        self.node_sock = os.path.join(sock_dir, "nodes.sock")
        self.mgmt = os.path.join(sock_dir, "mgmt.sock")
        self.conf = os.path.join(self.dir, "control.conf")
        self.heartbeat_timeout_ms = heartbeat_timeout_ms
        self.extra_conf = extra_conf   # more [control] lines
        self.wrap = list(wrap)         # a command prefix: ip netns exec NS
        self.use_relay = relay
        self.relays = {}
        self.proc = None
        self.runs = 0
        self.returncodes = []
        self.out_path = self.err_path = None

    # --- the process ---

    def write_config(self, initial_map):
        store = "store = file\nstate_dir = %s\n" % self.state_dir
        if self.etcd is not None:
            store = "store = etcd\n" + "".join(
                "%s = %s\n" % (k, v) for k, v in (
                    ("etcd_endpoints", self.etcd["endpoints"]),
                    ("etcd_prefix", self.etcd.get("prefix")),
                    ("lease_ms", self.etcd.get("lease_ms")),
                    ("instance", self.etcd.get("instance")))
                if v is not None)
        with open(self.conf, "w") as f:
            f.write("; catena-control of one integration test (control.py)\n"
                    "[control]\n%s"
                    "node_listen = unix:%s\nmgmt_socket = %s\n"
                    "heartbeat_timeout_ms = %d\ninitial_map = %s\n%s"
                    % (store, self.node_sock, self.mgmt,
                       self.heartbeat_timeout_ms, initial_map,
                       self.extra_conf))

    def ready_lines(self):
        return [l for l in self.stdout().splitlines()
                if l.startswith("catena-control: ready")]

    def wait_ready(self, count=1, timeout=READY_TIMEOUT):
        """Wait for this run's `count`-th ready line (an etcd instance
        prints one each time it becomes the leader); returns its fields."""
        deadline = time.monotonic() + timeout
        while True:
            lines = self.ready_lines()
            if len(lines) >= count:
                self.ready = dict(kv.split("=", 1)
                                  for kv in lines[count - 1].split()[2:])
                return self.ready
            rc = self.proc.poll()
            if rc is not None or time.monotonic() > deadline:
                raise ControlError(
                    "catena-control %s before `ready` #%d.\nstderr:\n%s"
                    % ("exited with %s" % rc if rc is not None else
                       "not ready after %.0f s" % timeout, count,
                       self.stderr()[-3000:]))
            time.sleep(0.02)

    def kill9(self):
        """SIGKILL (a crash) and reap; teardown expects nothing more."""
        self.proc.kill()
        self.proc.wait()
        self.returncodes.append(self.proc.returncode)
        self.proc = None
        self.out_f.close()
        self.err_f.close()

    def start(self, initial_map=None, wait_ready=True):
        """Start (again); returns the ready line's fields (or, with
        wait_ready=False, the standby line's, once it is there)."""
        if initial_map is not None:
            self.write_config(initial_map)
        assert self.proc is None, "catena-control already running"
        self.runs += 1
        self.out_path = os.path.join(self.dir, "control-%d.stdout" % self.runs)
        self.err_path = os.path.join(self.dir, "control-%d.stderr" % self.runs)
        self.out_f = open(self.out_path, "wb")
        self.err_f = open(self.err_path, "wb")
        self.proc = subprocess.Popen(
            self.wrap + [self.bins["control"], "--config", self.conf],
            stdout=self.out_f,
            stderr=self.err_f, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + READY_TIMEOUT
        want = ("catena-control: ready" if wait_ready else
                "catena-control: standby")
        while True:
            for line in self.stdout().splitlines():
                if line.startswith(want):
                    self.ready = dict(kv.split("=", 1)
                                      for kv in line.split()[2:])
                    return self.ready
            rc = self.proc.poll()
            if rc is not None or time.monotonic() > deadline:
                raise ControlError(
                    "catena-control %s before `ready`.\nconfig:\n%s\n"
                    "stderr:\n%s\nstdout:\n%s"
                    % ("exited with %s" % rc if rc is not None else
                       "not ready after %.0f s" % READY_TIMEOUT,
                       open(self.conf).read(), self.stderr()[-3000:],
                       self.stdout()[-2000:]))
            time.sleep(0.02)

    def stop(self, sig=signal.SIGTERM, timeout=STOP_TIMEOUT):
        """Signal and wait; returns the exit status."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                rc = "killed after %ss" % timeout
                self.returncodes.append(rc)
                self.proc = None
                return rc
        rc = self.proc.returncode
        self.returncodes.append(rc)
        self.proc = None
        self.out_f.close()
        self.err_f.close()
        return rc

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def _read(self, path):
        if path is None:
            return ""
        with open(path, errors="replace") as f:
            return f.read()

    def stdout(self):
        return self._read(self.out_path)

    def stderr(self, all_runs=False):
        if not all_runs:
            return self._read(self.err_path)
        return "".join(self._read(os.path.join(self.dir, "control-%d.stderr"
                                               % r))
                       for r in range(1, self.runs + 1))

    def teardown(self):
        problems = []
        for r in self.relays.values():
            r.close()
        if self.proc is not None:
            rc = self.stop()
            if rc != 0:
                problems.append("catena-control did not exit 0 on SIGTERM "
                                "(exit %s).\nstderr tail:\n%s"
                                % (rc, self.stderr()[-3000:]))
        return problems

    # --- the node channel ---

    def node_endpoint(self, node_id):
        """What node `node_id` puts in `[control] connect`: the node
        channel itself, or this node's relay in front of it."""
        if not self.use_relay:
            return "unix:" + self.node_sock
        if node_id not in self.relays:
            self.relays[node_id] = Relay(
                os.path.join(self.dir, "relay-%d.sock" % node_id),
                self.node_sock)
        return "unix:" + self.relays[node_id].path

    # --- the management socket ---

    def raw(self, data, timeout=5.0):
        """Send bytes on a fresh management connection, shut down our
        side, read until the server closes or `timeout`. Returns
        (bytes received, closed_by_server)."""
        s = connect_unix(self.mgmt, timeout)
        closed = False
        buf = b""
        try:
            try:
                s.sendall(data)
                s.shutdown(socket.SHUT_WR)
            except (BrokenPipeError, ConnectionResetError):
                closed = True
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                try:
                    chunk = s.recv(65536)
                except socket.timeout:
                    break
                except ConnectionResetError:
                    closed = True
                    break
                if not chunk:
                    closed = True
                    break
                buf += chunk
        finally:
            s.close()
        return buf, closed

    def request(self, obj, timeout=5.0):
        """One request (a dict, or a str sent as is plus LF) on its own
        connection; returns the parsed answer line."""
        line = obj if isinstance(obj, str) else json.dumps(obj)
        s = connect_unix(self.mgmt, timeout)
        try:
            s.sendall(line.encode() + b"\n")
            buf = b""
            while b"\n" not in buf:
                chunk = s.recv(65536)
                if not chunk:
                    break
                buf += chunk
        finally:
            s.close()
        if b"\n" not in buf:
            raise ControlError("management socket: no answer line to %r "
                               "(got %r)" % (line[:200], buf[:200]))
        return json.loads(buf.split(b"\n", 1)[0])

    def result(self, cmd, **args):
        a = self.request(dict({"cmd": cmd}, **args))
        if a.get("ok") is not True:
            raise ControlError("%s: %r" % (cmd, a))
        return a["result"]

    def ctl(self, *args, as_json=False, timeout=30):
        """Run catenactl; returns the CompletedProcess."""
        cmd = [self.bins["catenactl"], "-s", self.mgmt]
        if as_json:
            cmd.append("--json")
        cmd += [str(a) for a in args]
        p = subprocess.run(cmd, capture_output=True, text=True,
                           timeout=timeout)
        sanitizer.check("catenactl %s" % " ".join(cmd[1:]), p.stderr,
                        p.stdout)
        return p

    def ctl_json(self, *args, ok_codes=(0,)):
        p = self.ctl(*args, as_json=True)
        if p.returncode not in ok_codes:
            raise ControlError("catenactl --json %s: exit %d\nstdout: %s\n"
                               "stderr: %s" % (" ".join(map(str, args)),
                                               p.returncode, p.stdout[-2000:],
                                               p.stderr[-2000:]))
        lines = p.stdout.strip().splitlines()
        assert len(lines) == 1, "catenactl --json printed %d lines:\n%s" % (
            len(lines), p.stdout[-2000:])
        return json.loads(lines[0])

    # --- waiting on what it reports ---

    def nodes(self):
        return {n["id"]: n for n in self.result("nodes")}

    def epoch(self):
        return self.result("status")["epoch"]

    def wait_for(self, what, pred, timeout=10.0, period=0.01):
        """Poll pred() (truthy result returned) until timeout; fail with
        `what`, the last value and catena-control's stderr."""
        deadline = time.monotonic() + timeout
        last = None
        while True:
            try:
                last = pred()
            except (OSError, ValueError, ControlError) as e:
                last = e
                if not self.alive():
                    raise ControlError("catena-control died while waiting "
                                       "for %s (exit %s)\nstderr:\n%s"
                                       % (what, self.proc and
                                          self.proc.returncode,
                                          self.stderr()[-3000:]))
            if last and not isinstance(last, Exception):
                return last
            if time.monotonic() > deadline:
                raise ControlError("timed out after %.1f s waiting for %s; "
                                   "last: %r\ncatena-control stderr:\n%s"
                                   % (timeout, what, last,
                                      self.stderr()[-3000:]))
            time.sleep(period)

    def wait_applied(self, epoch, nodes, timeout=10.0):
        """Wait until every node of `nodes` is up, connected and has
        applied `epoch` (or later); returns the nodes table."""
        def ok():
            t = self.nodes()
            if all(t[i]["state"] in ("up", "returned") and t[i]["connected"]
                   and (t[i]["epoch"] or 0) >= epoch for i in nodes):
                return t
            return None
        return self.wait_for("nodes %r at epoch %d" % (list(nodes), epoch),
                             ok, timeout)
