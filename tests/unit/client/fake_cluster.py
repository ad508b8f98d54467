"""
A fake catena cluster for the Python client's unit tests: a few UDP
sockets on 127.0.0.1 served by one thread, speaking the wire format with
a tiny in-memory store, a cluster map served by MAP_GET in small chunks,
heads that answer MOVED for reads and tails for writes, and a hook per
test to drop, delay, or answer anything differently. Loopback only.
"""

import select
import socket
import threading

from catena import wire as W


class FakeNode:
    def __init__(self, nid, workers=0):
        self.id = nid
        self.workers = workers
        self.socks = []
        for _ in range(50):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind(("127.0.0.1", 0))
            extra = []
            try:
                for i in range(workers):
                    w = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                    extra.append(w)
                    w.bind(("127.0.0.1", s.getsockname()[1] + 1 + i))
            except OSError:
                for x in [s] + extra:
                    x.close()
                continue
            self.socks = [s] + extra
            break
        self.port = self.socks[0].getsockname()[1]
        self.silent = False         # drops everything

    @property
    def addr(self):
        return ("127.0.0.1", self.port)


class FakeCluster:
    """nodes: ids; chains: {chain id: [node ids]}; slots: slot count.
    hook(cluster, node, msg, src, local_port) may return None (default
    handling), "drop", or a list of (node, Msg, dst) to send."""

    def __init__(self, nodes=(1,), chains=None, slots=64, epoch=1,
                 chunk=48, workers=None, craq=False):
        workers = workers or {}
        self.nodes = {i: FakeNode(i, workers.get(i, 0)) for i in nodes}
        self.chains = chains or {1: list(nodes)}
        self.slots = slots
        self.epoch = epoch
        self.chunk = chunk
        self.craq = craq
        self.store = {}             # key -> (value, version)
        self.versions = {}          # slot -> last version
        self.log = []               # (node id, Msg, src, local port)
        self.hook = None
        self.lock = threading.Lock()
        self.map_epoch_override = {}  # node id -> epoch it claims
        self._stop = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    # --- the map ---
    def map_text(self):
        lines = ["epoch %d" % self.epoch, "slots %d" % self.slots,
                 "craq %s" % ("on" if self.craq else "off")]
        for i, n in sorted(self.nodes.items()):
            lines.append("node %d 127.0.0.1:%d" % (i, n.port))
            if n.workers:
                lines.append("workers %d %d" % (i, n.workers))
        for c, members in sorted(self.chains.items()):
            lines.append("chain %d %s" % (c, " ".join(map(str, members))))
        lines.append("assign all roundrobin")
        return ("\n".join(lines) + "\n").encode()

    def chain_of(self, slot):
        order = sorted(self.chains)
        return self.chains[order[slot % len(order)]]

    def seeds(self, *ids):
        return ["127.0.0.1:%d" % self.nodes[i].port
                for i in (ids or sorted(self.nodes))]

    def close(self):
        self._stop = True
        self._thread.join(2)
        for n in self.nodes.values():
            for s in n.socks:
                s.close()

    def sent_to(self, nid, op=None):
        return [m for (i, m, _, _) in self.log
                if i == nid and (op is None or m.op == op)]

    # --- serving ---
    def _run(self):
        by_sock = {}
        for n in self.nodes.values():
            for s in n.socks:
                by_sock[s] = n
        while not self._stop:
            r, _, _ = select.select(list(by_sock), [], [], 0.02)
            for s in r:
                try:
                    data, src = s.recvfrom(65536)
                except OSError:
                    continue
                node = by_sock[s]
                try:
                    msgs = W.decode_all(data)
                except W.DecodeError:
                    continue
                for m in msgs:
                    with self.lock:
                        self.log.append((node.id, m, src,
                                         s.getsockname()[1]))
                        self._handle(node, m, src, s.getsockname()[1])

    def send(self, node, msg, dst):
        node.socks[0].sendto(msg.encode(), dst)

    def reply(self, req, status=W.ST_OK, arg=0, value=b"", epoch=None):
        return W.Msg(op=req.op, flags=W.F_REPLY, status=status,
                     slot=req.slot, epoch=self.epoch if epoch is None
                     else epoch, client_id=req.client_id, seq=req.seq,
                     arg=arg, key=req.key, value=value)

    def _handle(self, node, m, src, lport):
        if node.silent:
            return
        if self.hook:
            out = self.hook(self, node, m, src, lport)
            if out == "drop":
                return
            if out is not None:
                for (n, msg, dst) in out:
                    self.send(n, msg, dst)
                return
        for (n, msg, dst) in self.default(node, m, src):
            self.send(n, msg, dst)

    def default(self, node, m, src):
        """What a correct node would send for m: [(node, Msg, dst)]."""
        ep = self.map_epoch_override.get(node.id, self.epoch)
        if m.op == W.OP_MAP_GET:
            text = self.map_text()
            return [(node, self.reply(m, arg=len(text), epoch=ep,
                                      value=text[m.arg:m.arg + self.chunk]),
                     src)]
        if m.op == W.OP_PING:
            return [(node, self.reply(m, arg=self.slots, epoch=ep), src)]
        if m.slot != W.slot_of(m.key, self.slots):
            return [(node, self.reply(m, W.ST_WRONG_SLOT, self.slots), src)]
        chain = self.chain_of(m.slot)
        if m.op == W.OP_GET:
            if not self.craq and node.id != chain[-1]:
                return [(node, self.reply(m, W.ST_MOVED, chain[-1]), src)]
            if m.key not in self.store:
                return [(node, self.reply(m, W.ST_NOT_FOUND), src)]
            v, ver = self.store[m.key]
            return [(node, self.reply(m, arg=ver, value=v), src)]
        if node.id != chain[0]:
            return [(node, self.reply(m, W.ST_MOVED, chain[0]), src)]
        st, arg, val = self.execute(m)
        tail = self.nodes[chain[-1]]
        return [(tail, self.reply(m, st, arg, val), src)]

    def execute(self, m):
        cur = self.store.get(m.key)
        nxt = self.versions.get(m.slot, 0) + 1
        if m.op == W.OP_PUT:
            self.store[m.key] = (m.value, nxt)
        elif m.op == W.OP_DEL:
            if cur is None:
                self.versions[m.slot] = nxt
                return W.ST_NOT_FOUND, 0, b""
            del self.store[m.key]
            self.versions[m.slot] = nxt
            return W.ST_OK, cur[1], b""
        elif m.op == W.OP_CAS:
            if m.flags & W.F_CAS_VALUE:
                exp, new = m.value[:m.arg], m.value[m.arg:]
                if cur is None:
                    self.versions[m.slot] = nxt
                    return W.ST_NOT_FOUND, 0, b""
                ok = cur[0] == exp
            else:
                new = m.value
                ok = (cur[1] if cur else 0) == m.arg
            if not ok:
                self.versions[m.slot] = nxt
                return W.ST_CAS_FAILED, cur[1] if cur else 0, b""
            self.store[m.key] = (new, nxt)
        elif m.op == W.OP_INCR:
            try:
                n = int(cur[0]) if cur else 0
            except ValueError:
                self.versions[m.slot] = nxt
                return W.ST_NOT_A_NUMBER, 0, b""
            n += m.arg_signed
            if not -(1 << 63) <= n < (1 << 63):
                self.versions[m.slot] = nxt
                return W.ST_OVERFLOW, 0, b""
            self.store[m.key] = (b"%d" % n, nxt)
            self.versions[m.slot] = nxt
            return W.ST_OK, nxt, b"%d" % n
        else:
            return W.ST_UNKNOWN_OP, 0, b""
        self.versions[m.slot] = nxt
        return W.ST_OK, nxt, b""
