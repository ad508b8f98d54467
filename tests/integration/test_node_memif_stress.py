"""
Scenario: one catena-node serving a memif (role=server), as perf/compare.sh
runs it, while memif clients come and go (issue 14, item 5: a node died of
SIGSEGV in compare.sh's busy-poll row once, after the first catena-bench
run ended). The node polls without pause (idle = busy) in one case and
backs off in the other. Clients, in a fixed seeded order:

- catena-bench (DPDK's memif client) runs briefly and exits cleanly, or is
  killed with SIGKILL while its traffic flows, or early (EAL init or the
  memif handshake);
- a memif client written here (protocol 2.0, as in DPDK's
  drivers/net/memif/memif.h) that gets 32 PUT/GET answered, queues nearly
  a ring of large requests and then says DISCONNECT or just closes its
  socket (what a SIGKILL does) while the worker copies them, or gives up
  at a step of the connect handshake.

That mid-traffic disconnect is what killed the node: DPDK's memif PMD
unmaps the shared region on the EAL interrupt thread while a worker is
inside rx/tx burst on it (SIGSEGV in librte_net_memif; dataplane/port.c's
munmap explains the fix). Without the fix this test fails within a few
dozen cycles, with either idle policy.

After every client the node must still run, and every client that runs to
the end must get its replies. At the end SIGTERM stops the node with exit
status 0 and no hugepage files left. The node runs with RLIMIT_CORE raised
in its own directory: if it dies, the failure names the signal, its last
log lines and where the core file went (kernel.core_pattern is read, never
changed).
"""

import array
import json
import mmap
import os
import random
import resource
import select
import signal
import socket
import struct
import subprocess
import time

import pytest

import catena_proto as cp
import sanitizer

NODE_IP = "10.77.0.1"
NODE_MAC = "02:ca:7e:00:00:01"
CLIENT_IP = "10.77.0.100"
CLIENT_MAC = "02:ca:7e:00:00:64"
CLIENT_PORT = 7471
SLOTS = 1024
READY_TIMEOUT = 30.0
LOG_TAIL = 25

# --- memif protocol 2.0 (DPDK drivers/net/memif/memif.h) ---

MEMIF_VERSION = 0x0200
MEMIF_COOKIE = 0x3E31F20
MSG_LEN = 128
(MSG_ACK, MSG_HELLO, MSG_INIT, MSG_ADD_REGION, MSG_ADD_RING, MSG_CONNECT,
 MSG_CONNECTED, MSG_DISCONNECT) = range(1, 9)
RING_FLAG_C2S = 1           # MEMIF_MSG_ADD_RING_FLAG_S2M: client to server
# memif_ring_t: cookie u32, flags u16, head u16 (cache line 0), tail u16
# (cache line 1), descriptors from cache line 2; a descriptor is flags u16,
# region u16, length u32, offset u32, metadata u32.
RING_HEAD, RING_TAIL, RING_DESC = 6, 64, 128
DESC = struct.Struct("<HHIII")
U16 = struct.Struct("<H")

# Where the handshake can be given up: after receiving HELLO, after the
# ACK of INIT, of ADD_REGION, of either ADD_RING, or after sending CONNECT
# without waiting for CONNECTED.
HANDSHAKE_STEPS = ("hello", "init", "region", "ring0", "ring1", "connect")


class MemifRefused(Exception):
    """The server sent DISCONNECT (e.g. "Already connected")."""


class MemifClient:
    """A memif client in one region: ring C2S at 0, ring S2C after it, then
    the buffers. Copies frames in and out of the shared buffers; never
    blocks longer than the timeouts given."""

    def __init__(self, path, log2_ring=10, buf_size=2048):
        self.path = path
        self.log2 = log2_ring
        self.n = 1 << log2_ring
        self.mask = self.n - 1
        self.buf_size = buf_size
        self.ring_bytes = RING_DESC + DESC.size * self.n
        self.buf_off = 2 * self.ring_bytes
        self.size = self.buf_off + 2 * self.n * buf_size
        self.memfd = os.memfd_create("catena-test-memif")
        os.ftruncate(self.memfd, self.size)
        self.mem = mmap.mmap(self.memfd, self.size)
        self.efd = [os.eventfd(0, os.EFD_NONBLOCK) for _ in range(2)]
        for r in range(2):
            base = r * self.ring_bytes
            struct.pack_into("<IHH", self.mem, base, MEMIF_COOKIE, 0, 0)
            U16.pack_into(self.mem, base + RING_TAIL, 0)
            for j in range(self.n):
                DESC.pack_into(self.mem, self._desc(r, j), 0, 0, buf_size,
                               self.buf_off + (r * self.n + j) * buf_size, 0)
        self.sock = None
        self.rx_last = 0
        self.connected = False

    def _desc(self, ring, slot):
        return ring * self.ring_bytes + RING_DESC + DESC.size * (slot & self.mask)

    def _get16(self, ring, off):
        return U16.unpack_from(self.mem, ring * self.ring_bytes + off)[0]

    def _put16(self, ring, off, v):
        U16.pack_into(self.mem, ring * self.ring_bytes + off, v & 0xFFFF)

    # control channel

    def _send(self, mtype, body=b"", fd=None):
        msg = (U16.pack(mtype) + body).ljust(MSG_LEN, b"\0")
        anc = ([(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [fd]))]
               if fd is not None else [])
        self.sock.sendmsg([msg], anc)

    def _expect(self, want, timeout):
        r, _, _ = select.select([self.sock], [], [], timeout)
        if not r:
            raise TimeoutError("memif: no answer from the server within %.1f s "
                               "(waiting for message type %d)" % (timeout, want))
        data = self.sock.recv(MSG_LEN)
        if not data:
            raise ConnectionError("memif: the server closed the control channel")
        mtype = U16.unpack_from(data)[0]
        if mtype == MSG_DISCONNECT:
            code = struct.unpack_from("<I", data, 2)[0]
            raise MemifRefused("memif: server disconnected (%d): %s" % (
                code, data[6:102].split(b"\0")[0].decode(errors="replace")))
        if mtype != want:
            raise ConnectionError("memif: message type %d, expected %d" % (mtype, want))
        return data

    def connect(self, stop_after=None, timeout=5.0):
        """Handshake; with stop_after (one of HANDSHAKE_STEPS) return right
        after that step, leaving the handshake unfinished."""
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.sock.connect(self.path)
        self._expect(MSG_HELLO, timeout)
        if stop_after == "hello":
            return
        self._send(MSG_INIT, struct.pack("<HIB24s32s", MEMIF_VERSION, 0, 0,
                                         b"", b"catena-test"))
        self._expect(MSG_ACK, timeout)
        if stop_after == "init":
            return
        self._send(MSG_ADD_REGION, struct.pack("<HQ", 0, self.size), self.memfd)
        self._expect(MSG_ACK, timeout)
        if stop_after == "region":
            return
        for r, flags in ((0, RING_FLAG_C2S), (1, 0)):
            self._send(MSG_ADD_RING, struct.pack("<HHHIBH", flags, 0, 0,
                                                 r * self.ring_bytes, self.log2, 0),
                       self.efd[r])
            self._expect(MSG_ACK, timeout)
            if stop_after == "ring%d" % r:
                return
        self._send(MSG_CONNECT, struct.pack("<32s", b"catena-test"))
        if stop_after == "connect":
            return
        self._expect(MSG_CONNECTED, timeout)
        # The server reset both rings: hand it every S2C buffer.
        self.rx_last = 0
        self._refill()
        self.connected = True

    def _refill(self):
        head = self._get16(1, RING_HEAD)
        while (head - self.rx_last) & 0xFFFF < self.n:
            off = self._desc(1, head)
            DESC.pack_into(self.mem, off, 0, 0, self.buf_size,
                           self.buf_off + (self.n + (head & self.mask)) * self.buf_size, 0)
            head = (head + 1) & 0xFFFF
        self._put16(1, RING_HEAD, head)

    def send(self, frames):
        """Queue frames on C2S; returns how many fit."""
        head = self._get16(0, RING_HEAD)
        tail = self._get16(0, RING_TAIL)
        free = self.n - ((head - tail) & 0xFFFF)
        sent = 0
        for f in frames[:free]:
            slot = head & self.mask
            boff = self.buf_off + slot * self.buf_size
            self.mem[boff:boff + len(f)] = f
            DESC.pack_into(self.mem, self._desc(0, slot), 0, 0, len(f), boff, 0)
            head = (head + 1) & 0xFFFF
            sent += 1
        self._put16(0, RING_HEAD, head)
        return sent

    def recv(self):
        """Frames the server wrote on S2C since the last call."""
        tail = self._get16(1, RING_TAIL)
        out = []
        while self.rx_last != tail:
            _, _, length, off, _ = DESC.unpack_from(self.mem, self._desc(1, self.rx_last))
            out.append(bytes(self.mem[off:off + min(length, self.buf_size)]))
            self.rx_last = (self.rx_last + 1) & 0xFFFF
        if out:
            self._refill()
        return out

    def close(self, clean=True):
        """clean: DISCONNECT first, as DPDK's client does on close; else
        just drop the socket, as the kernel does for a killed client."""
        if self.sock is not None:
            if clean:
                try:
                    self._send(MSG_DISCONNECT, struct.pack("<I96s", 0, b"catena-test: bye"))
                except OSError:
                    pass
            self.sock.close()
            self.sock = None
        self.mem.close()
        os.close(self.memfd)
        for fd in self.efd:
            os.close(fd)


def _mac(s):
    return bytes(int(x, 16) for x in s.split(":"))


def _ip(s):
    return socket.inet_aton(s)


def frame(payload):
    """Ethernet + IPv4 + UDP (no UDP checksum) around a catena payload."""
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + 8 + len(payload), 0, 0x4000,
                     64, 17, 0, _ip(CLIENT_IP), _ip(NODE_IP))
    s = sum(struct.unpack("!10H", ip))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    ip = ip[:10] + struct.pack("!H", ~s & 0xFFFF) + ip[12:]
    udp = struct.pack("!HHHH", CLIENT_PORT, cp.DEFAULT_PORT, 8 + len(payload), 0)
    return _mac(NODE_MAC) + _mac(CLIENT_MAC) + b"\x08\x00" + ip + udp + payload


def replies_in(frames):
    """(client_id, seq) of every catena reply in the frames for us."""
    out = []
    for f in frames:
        if len(f) < 42 or f[0:6] != _mac(CLIENT_MAC) or f[12:14] != b"\x08\x00":
            continue
        ihl = (f[14] & 0xF) * 4
        udp = 14 + ihl
        ulen = struct.unpack_from("!H", f, udp + 4)[0]
        for m in cp.decode_all(f[udp + 8:udp + ulen]):
            if m.flags & cp.F_REPLY:
                out.append((m.client_id, m.seq))
    return out


class Requests:
    """PUT/GET requests on a few hundred keys, one per frame, each with a
    fresh seq. Values are large so that copying frames in and replies
    (GETs of those values) out takes the worker a while."""

    KEYS = 200

    def __init__(self, rng):
        self.rng = rng
        self.client_id = rng.randrange(1, 1 << 32)
        self.seq = 0
        self.keys = [b"ms%04d" % k for k in range(self.KEYS)]
        self.slots = [cp.slot_of(k, SLOTS) for k in self.keys]

    def frames(self, n):
        out, ids = [], []
        for _ in range(n):
            self.seq += 1
            k = self.rng.randrange(self.KEYS)
            if self.seq % 2:
                m = cp.Msg(op=cp.OP_PUT, key=self.keys[k],
                           value=b"%d:" % self.seq + b"v" * self.rng.randrange(900, 1300),
                           slot=self.slots[k], client_id=self.client_id, seq=self.seq)
            else:
                m = cp.Msg(op=cp.OP_GET, key=self.keys[k], slot=self.slots[k],
                           client_id=self.client_id, seq=self.seq)
            out.append(frame(m.encode()))
            ids.append((self.client_id, self.seq))
        return out, ids


def memif_connect(node, when, stop_after=None, deadline_s=10.0):
    """A connected MemifClient; retried while the server still holds the
    last client's connection (it says "Already connected"). A node that
    died meanwhile fails the test with its death report."""
    deadline = time.monotonic() + deadline_s
    while True:
        c = MemifClient(node.sock)
        try:
            c.connect(stop_after=stop_after)
            return c
        except (MemifRefused, OSError) as e:
            c.close(clean=False)
            node.check_alive(when)
            if time.monotonic() > deadline:
                pytest.fail("%s: no memif connection within %.0f s: %s\n%s"
                            % (when, deadline_s, e, node.logs()), pytrace=False)
            time.sleep(0.02)


def exchange(c, reqs, n, timeout=3.0):
    """Send n requests and wait for every reply; returns the count missing."""
    frames, ids = reqs.frames(n)
    want = set(ids)
    deadline = time.monotonic() + timeout
    pending = list(frames)
    while want and time.monotonic() < deadline:
        if pending:
            pending = pending[c.send(pending):]
        got = replies_in(c.recv())
        want.difference_update(got)
        if not got:
            time.sleep(0.0005)
    return len(want)


# --- the node ---

def core_pattern():
    try:
        with open("/proc/sys/kernel/core_pattern") as f:
            return f.read().strip()
    except OSError:
        return "?"


def _raise_core_limit():
    resource.setrlimit(resource.RLIMIT_CORE,
                       (resource.RLIM_INFINITY, resource.RLIM_INFINITY))


def _tail(path, n=LOG_TAIL):
    return "\n".join(sanitizer.read(path).splitlines()[-n:])


def _cleanup_prefix(prefix):
    for f in os.listdir("/dev/hugepages"):
        if f.startswith(prefix):
            try:
                os.unlink(os.path.join("/dev/hugepages", f))
            except OSError:
                pass
    subprocess.run(["rm", "-rf", "/var/run/dpdk/" + prefix], check=False)


class MemifNode:
    """catena-node with net_memif0 as server on a socket in its directory,
    worker on CPU 0, main lcore on CPU 1 (as compare.sh runs it)."""

    def __init__(self, build, tmp, idle, tag):
        self.dir = tmp
        self.prefix = "catms%s%d" % (tag, os.getpid() % 100000)
        self.sock = os.path.join(tmp, "node.sock")
        self.conf = os.path.join(tmp, "node.conf")
        self.out_path = os.path.join(tmp, "node.out")
        self.err_path = os.path.join(tmp, "node.err")
        with open(self.conf, "w") as f:
            f.write("[node]\nid = 1\nip = %s\nidle = %s\n[store]\nslots = %d\n"
                    % (NODE_IP, idle, SLOTS))
        self.cmd = [os.path.join(build, "dataplane", "catena-node"),
                    "-l", "0,1", "--main-lcore", "1", "--no-pci",
                    "--file-prefix", self.prefix, "--single-file-segments", "-m", "256",
                    "--log-level", "lib.*:warning",
                    "--vdev", "net_memif0,role=server,socket=%s,socket-abstract=no,"
                    "mac=%s" % (self.sock, NODE_MAC),
                    "--", "--config", self.conf]
        self.proc = None
        self.benches = []

    def start(self):
        _cleanup_prefix(self.prefix)
        self.out_f = open(self.out_path, "wb")
        self.err_f = open(self.err_path, "wb")
        # Its own directory, so a relative core_pattern ("core") lands there.
        self.proc = subprocess.Popen(self.cmd, stdout=self.out_f, stderr=self.err_f,
                                     stdin=subprocess.DEVNULL, cwd=self.dir,
                                     preexec_fn=_raise_core_limit)
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if "catena-node: ready" in sanitizer.read(self.out_path):
                return
            if self.proc.poll() is not None:
                pytest.fail(self.death("before `ready`"), pytrace=False)
            time.sleep(0.05)
        pytest.fail("catena-node not ready after %.0f s\n%s"
                    % (READY_TIMEOUT, self.logs()), pytrace=False)

    def logs(self):
        return ("node stderr (last %d lines):\n%s\nnode stdout (last lines):\n%s"
                % (LOG_TAIL, _tail(self.err_path), _tail(self.out_path, 5)))

    def death(self, when):
        rc = self.proc.returncode
        if rc is not None and rc < 0:
            how = "killed by signal %d (%s)" % (-rc, signal.Signals(-rc).name)
        else:
            how = "exited with status %s" % rc
        pat = core_pattern()
        if pat.startswith("|"):
            where = ("piped to %s (kernel.core_pattern %r; e.g. coredumpctl)"
                     % (pat[1:].split()[0], pat))
        else:
            # Relative patterns are relative to the node's cwd, self.dir.
            d = os.path.join(self.dir, os.path.dirname(pat))
            stem = os.path.basename(pat).split("%")[0] or "core"
            try:
                cores = sorted(os.path.join(d, f) for f in os.listdir(d)
                               if f.startswith(stem))
            except OSError:
                cores = []
            where = ("%s (kernel.core_pattern %r, node cwd %s, RLIMIT_CORE unlimited)"
                     % (", ".join(cores) if cores else "no core file found",
                        pat, self.dir))
        return ("catena-node %s %s; core dump: %s; command: %s\n%s"
                % (how, when, where, " ".join(self.cmd), self.logs()))

    def check_alive(self, when):
        if self.proc.poll() is not None:
            pytest.fail(self.death(when), pytrace=False)

    def count(self, what):
        """The last link_up_events / link_down_events the node logged."""
        n = 0
        for line in sanitizer.read(self.err_path).splitlines():
            i = line.find(what + " ")
            if i >= 0:
                n = int(line[i + len(what) + 1:].split()[0].rstrip(",)"))
        return n

    def wait_count(self, what, n, timeout, when):
        deadline = time.monotonic() + timeout
        while self.count(what) < n:
            self.check_alive(when)
            if time.monotonic() > deadline:
                pytest.fail("node logged %s %d, not %d, within %.0f s %s\n%s"
                            % (what, self.count(what), n, timeout, when, self.logs()),
                            pytrace=False)
            time.sleep(0.02)

    def stop(self):
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                return "killed after 20 s"
        self.out_f.close()
        self.err_f.close()
        return self.proc.returncode

    def hugepage_leftovers(self):
        return [f for f in os.listdir("/dev/hugepages") if f.startswith(self.prefix)]


class Bench:
    """catena-bench as the memif client (CPU 1, as in compare.sh)."""

    def __init__(self, build, node, i, duration):
        self.prefix = "%sb%d" % (node.prefix, i)
        self.json = os.path.join(node.dir, "bench%d.json" % i)
        self.err_path = os.path.join(node.dir, "bench%d.err" % i)
        self.cmd = [os.path.join(build, "perf", "catena-bench"),
                    "-l", "1", "--no-pci", "--file-prefix", self.prefix,
                    "--single-file-segments", "-m", "128", "--log-level", "lib.*:warning",
                    "--vdev", "net_memif0,role=client,socket=%s,socket-abstract=no" % node.sock,
                    "--", "--ip", CLIENT_IP, "--node", NODE_IP, "--node-mac", NODE_MAC,
                    "--keys", "500", "--window", "4", "--warmup", "0",
                    "--duration", str(duration), "--no-preload", "--quiet",
                    "--json", self.json]
        with open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen(self.cmd, stdout=subprocess.DEVNULL, stderr=err,
                                         stdin=subprocess.DEVNULL)
        node.benches.append(self)

    def finish(self, timeout=60):
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        _cleanup_prefix(self.prefix)
        return self.proc.returncode

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        return self.finish()


# Cycle kinds: catena-bench runs to the end, is SIGKILLed while its
# traffic flows, or early (EAL init or the memif handshake); the Python
# client disconnects cleanly (py-bye) or drops its socket (py-drop) with
# nearly a ring of requests queued, or gives up during the handshake.
PY_ROUND = ["py-bye", "py-drop", "py-bye", "py-drop", "py-abort"] * 8
PLAN = [k for b in ("bench-exit", "bench-kill", "bench-exit", "bench-kill-early",
                    "bench-exit", "bench-kill")
        for k in [b] + PY_ROUND]


def _cycle(node, build, kind, i, rng, reqs, prev):
    when = "after cycle %d (%s)" % (i, kind)
    connecting = "connecting in cycle %d (%s), after cycle %s" % (i, kind, prev)
    if kind.startswith("bench"):
        ups = node.count("link_up_events")
        b = Bench(build, node, i, 0.25 if kind == "bench-exit" else 5)
        if kind == "bench-kill-early":
            time.sleep(rng.uniform(0.05, 0.4))
            b.kill()
            return
        # Traffic flows once the node has seen the link come up.
        node.wait_count("link_up_events", ups + 1, 30, "waiting for catena-bench %d" % i)
        if kind == "bench-kill":
            time.sleep(rng.uniform(0.02, 0.3))
            b.kill()
            return
        rc = b.finish()
        node.check_alive(when)
        assert rc == 0, ("catena-bench %d (clean run) exited %s:\n%s\n%s"
                         % (i, rc, _tail(b.err_path), node.logs()))
        with open(b.json) as f:
            r = json.load(f)["runs"][-1]
        assert r["achieved_ops"] > 0 and not r["errors"], (when, r["achieved_ops"], r["errors"])
        return
    if kind == "py-abort":
        step = rng.choice(HANDSHAKE_STEPS)
        c = memif_connect(node, connecting, stop_after=step)
        c.close(clean=rng.random() < 0.5)
        return
    c = memif_connect(node, connecting)
    missing = exchange(c, reqs, 32)
    node.check_alive(when)
    assert missing == 0, "%s: %d of 32 requests unanswered\n%s" % (when, missing, node.logs())
    # Mid-traffic: nearly a ring of requests queued, and the connection
    # gone while the worker is still copying them in and replies out.
    frames, _ = reqs.frames(rng.randrange(c.n // 2, c.n))
    c.send(frames)
    spin = time.perf_counter() + rng.uniform(0, 50e-6)
    while time.perf_counter() < spin:
        pass
    c.close(clean=kind == "py-bye")


@pytest.mark.parametrize("idle", ["busy", "backoff"])
def test_memif_clients_connect_exit_and_die_while_node_polls_and_node_survives(
        idle, binaries, privileges, hugepages, tmp_path, build_dir):
    if not os.access(os.path.join(build_dir, "perf", "catena-bench"), os.X_OK):
        pytest.fail("catena-bench not built in %s" % build_dir, pytrace=False)
    node = MemifNode(build_dir, str(tmp_path), idle, idle[0])
    rng = random.Random(14 if idle == "busy" else 15)
    reqs = Requests(rng)
    t0 = time.monotonic()
    try:
        node.start()
        prev = "none"
        for i, kind in enumerate(PLAN):
            _cycle(node, build_dir, kind, i, rng, reqs, prev)
            node.check_alive("after cycle %d (%s)" % (i, kind))
            prev = "%d (%s)" % (i, kind)
        # After the last disconnect a client is answered in full.
        c = memif_connect(node, "connecting the last client, after cycle %s" % prev)
        assert exchange(c, reqs, 128) == 0, node.logs()
        c.close()
        node.check_alive("after the last client")
        # The node saw the clients come and go (one link up per catena-bench
        # that got that far, more for the longer Python connections).
        benches_up = sum(1 for k in PLAN if k in ("bench-exit", "bench-kill"))
        assert node.count("link_up_events") >= benches_up, node.logs()
        rc = node.stop()
        assert rc == 0, "SIGTERM: exit %s\n%s" % (rc, node.logs())
        assert node.hugepage_leftovers() == []
        print("%d cycles, idle %s, %.1f s" % (len(PLAN), idle, time.monotonic() - t0))
    finally:
        for b in node.benches:
            if b.proc.poll() is None:
                b.proc.kill()
            b.finish()
        node.stop()
        _cleanup_prefix(node.prefix)
