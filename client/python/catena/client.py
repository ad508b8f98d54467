"""
The catena client: one unconnected UDP socket, requests routed by the
cluster map (writes to the slot's chain head, reads to its tail or a CRAQ
replica, on the node's worker port), replies matched by request id from
any address, re-sent with the same id within a retry budget, the map
refreshed on MOVED and probed for on silence. It follows libcatena
(client/catena.c) step by step; docs/PROTOCOL.md is the contract.
Blocking, not thread-safe: one Client per thread.
"""

import errno
import os
import random
import select
import socket
import struct
import time

from . import errors as E
from .clustermap import ClusterMap, MapError
from .wire import (DEFAULT_MTU, DEFAULT_PORT, F_CAS_VALUE, F_REPLY, HDR_LEN,
                   IP_UDP_LEN, KEY_MAX, MAP_TEXT_MAX, OP_CAS, OP_DEL, OP_GET,
                   OP_INCR, OP_MAP_GET, OP_PING, OP_PUT, ST_CAS_FAILED,
                   ST_MOVED, ST_NOT_FOUND, ST_OK, ST_RETRY, ST_UNKNOWN_OP,
                   ST_WRONG_SLOT, U64, Msg, crc32c, decode_prefix,
                   slot_count_valid, value_max)

DEFAULT_TIMEOUT = 0.2      # first try's wait, s (libcatena 200 ms)
DEFAULT_DEADLINE = 5.0     # per request by default, s: outlasts a failover
TIMEOUT_CAP = 0.5          # silent tries double their wait up to this
RETRY_BACKOFF_FIRST = 0.005
MOVED_MAX = 4
MAP_FETCH_RESTARTS_MAX = 8
SEEDS_MAX = 16

# Linux IP_RECVERR: ICMP errors queued with the address they are about.
_IP_RECVERR = getattr(socket, "IP_RECVERR", 11)
_MSG_ERRQUEUE = getattr(socket, "MSG_ERRQUEUE", 0x2000)
_SO_EE_ORIGIN_ICMP = 2
_EE = struct.Struct("=IBBBBII")     # struct sock_extended_err

_REROUTED = 3


def _now():
    return time.monotonic()


def _as_bytes(x, what):
    if isinstance(x, str):
        return x.encode()
    if isinstance(x, (bytes, bytearray, memoryview)):
        return bytes(x)
    raise E.InvalidArgument("%s must be bytes or str, not %s"
                            % (what, type(x).__name__))


def _parse_seeds(seeds, port):
    """Seeds as "HOST[:PORT],..." or a list of "HOST[:PORT]" / (HOST,
    PORT): a list of (ip, port). Strict, like libcatena: an empty entry or
    a bad port is an error, not a shorter list."""
    if isinstance(seeds, str):
        items = seeds.split(",")
    elif isinstance(seeds, tuple) and len(seeds) == 2 and \
            isinstance(seeds[1], int):
        items = [seeds]
    else:
        try:
            items = list(seeds)
        except TypeError:
            raise E.InvalidArgument("seeds must be a string or a list of "
                                    "HOST[:PORT], not %r" % (seeds,))
    if not items:
        raise E.InvalidArgument("no seed node given")
    if len(items) > SEEDS_MAX:
        raise E.InvalidArgument("%d seeds: at most %d" % (len(items),
                                                           SEEDS_MAX))
    out = []
    for it in items:
        if isinstance(it, (tuple, list)) and len(it) == 2:
            host, p = str(it[0]), it[1]
        elif isinstance(it, str):
            host, sep, ps = it.strip().partition(":")
            if sep:
                if not ps.isdigit() or len(ps) > 5:
                    raise E.InvalidArgument("seed %r: bad port %r" % (it, ps))
                p = int(ps)
            else:
                p = port
        else:
            raise E.InvalidArgument("seed %r: expected HOST[:PORT]" % (it,))
        if not host:
            raise E.InvalidArgument("seed %r: empty host" % (it,))
        if not isinstance(p, int) or not 1 <= p <= 65535:
            raise E.InvalidArgument("seed %r: port %r outside 1..65535"
                                    % (it, p))
        try:
            ai = socket.getaddrinfo(host, None, socket.AF_INET,
                                    socket.SOCK_DGRAM)
        except socket.gaierror as e:
            raise E.Unreachable("seed %r: cannot resolve %r: %s"
                                % (it, host, e.strerror))
        out.append((ai[0][4][0], p))
    return out


class _Budget:
    """What one call may still spend: tries (a count, unbounded by
    default) and time (a deadline, None = none), and the wait of the next
    try, doubling after each silent one with the default budget."""

    def __init__(self, c, deadline=False):
        if deadline is False:
            self.deadline = _now() + c.deadline if c.deadline else None
        else:
            self.deadline = deadline
        self.tries = c._tries
        self.wait = c.timeout

    def left(self):
        if self.deadline is None:
            return float("inf")
        return max(0.0, self.deadline - _now())

    def take(self):
        """One try: how long it may wait (> 0), or 0 if spent."""
        left = self.left()
        if self.tries <= 0 or left <= 0:
            return 0
        self.tries -= 1
        return min(self.wait, left)

    def silent(self, c):
        if c._backoff:
            cap = max(c.timeout, TIMEOUT_CAP)
            self.wait = cap if self.wait > cap / 2 else self.wait * 2

    def pause(self, c, backoff):
        """The RETRY pause; returns the next one."""
        time.sleep(max(0.0, min(backoff, self.left())))
        return min(backoff * 2, c.timeout)


class _Probe:
    """A request's "has the map changed?": a one-chunk MAP_GET to a node
    other than the silent one, one request id per request."""

    def __init__(self, c):
        self.msg = Msg(op=OP_MAP_GET, client_id=c.client_id,
                       seq=c._next_seq())
        self.data = self.msg.encode()
        self.sent = False
        self.heard = False


class Ping:
    """What PING tells: the node's slot count and epoch."""

    __slots__ = ("slot_count", "epoch")

    def __init__(self, slot_count, epoch):
        self.slot_count = slot_count
        self.epoch = epoch

    def __iter__(self):
        return iter((self.slot_count, self.epoch))

    def __repr__(self):
        return "Ping(slot_count=%d, epoch=%d)" % (self.slot_count, self.epoch)


class Client:
    """A client of one catena cluster.

    seeds: nodes to fetch the cluster map from, "HOST[:PORT],..." or a
    list of "HOST[:PORT]" / (HOST, PORT); port: their default UDP port.

    The retry budget (docs/PROTOCOL.md, "How long to retry"): by default
    a request keeps trying for `deadline` seconds (5), the first try
    waiting `timeout` (0.2 s), each silent one twice as long up to 0.5 s,
    map fetches and RETRY pauses included. With `retries` given, a request
    is tried 1 + retries times, each waiting `timeout`, and `deadline`
    bounds it only if given too. retries=-1: each request sent once.

    client_id: the 32-bit request id prefix (random by default; a
    restarted process must not reuse one with lower seqs, and seqs start
    at the wall clock in ns so that it cannot). mtu: of the path to the
    nodes (values over the limit it implies are refused locally).

    Not thread-safe; close() it, or use it as a context manager.
    """

    def __init__(self, seeds, port=DEFAULT_PORT, timeout=DEFAULT_TIMEOUT,
                 deadline=None, retries=None, mtu=DEFAULT_MTU,
                 client_id=None, rng=None):
        if not isinstance(port, int) or not 1 <= port <= 65535:
            raise E.InvalidArgument("port %r outside 1..65535" % (port,))
        if not isinstance(timeout, (int, float)) or timeout <= 0:
            raise E.InvalidArgument("timeout must be > 0 seconds, not %r"
                                    % (timeout,))
        if deadline is not None and (not isinstance(deadline, (int, float))
                                     or deadline <= 0 or deadline > 3600):
            raise E.InvalidArgument("deadline must be in (0, 3600] seconds, "
                                    "not %r" % (deadline,))
        if retries is not None and (not isinstance(retries, int) or
                                    retries < -1 or retries > 100000):
            raise E.InvalidArgument("retries must be -1..100000, not %r"
                                    % (retries,))
        if not isinstance(mtu, int) or not \
                IP_UDP_LEN + HDR_LEN + 1 <= mtu <= 65535:
            raise E.InvalidArgument("mtu %r outside %d..65535"
                                    % (mtu, IP_UDP_LEN + HDR_LEN + 1))
        if client_id is not None and (not isinstance(client_id, int) or
                                      not 1 <= client_id <= 0xFFFFFFFF):
            raise E.InvalidArgument("client_id must be 1..2^32-1")
        self.timeout = float(timeout)
        if retries is None:
            # The default: a deadline that outlasts a failover.
            self._tries = float("inf")
            self.deadline = float(deadline or DEFAULT_DEADLINE)
            self._backoff = True
        else:
            self._tries = 1 if retries < 0 else 1 + retries
            self.deadline = float(deadline) if deadline else None
            self._backoff = False
        self.mtu = mtu
        self._tx_cap = mtu - IP_UDP_LEN
        self.seeds = _parse_seeds(seeds, port)
        self.client_id = client_id or (
            int.from_bytes(os.urandom(4), "little") or 1)
        self._seq = time.time_ns()
        self._rng = rng or random.Random()
        self.map = None
        self.slot_count = 0      # without a map: learnt from PING
        self.epoch = 0           # of the last reply
        self._single = None      # a node from before MAP_GET: the cluster
        self._probe_next = 0
        self.stats = {"resends": 0, "moved": 0, "retry": 0, "map_fetches": 0,
                      "map_fetch_failures": 0, "stray": 0, "gave_up": 0,
                      "refresh_on_silence": 0, "rerouted": 0}
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF,
                                  4 << 20)
            # Unconnected (a write's reply comes from the tail, not the
            # head), so ICMP errors come only through IP_RECVERR.
            self._sock.setsockopt(socket.IPPROTO_IP, _IP_RECVERR, 1)
            self._sock.bind(("0.0.0.0", 0))
        except OSError:
            self._sock.close()
            raise

    # --- life cycle ---

    def close(self):
        """Close the socket. Idempotent."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def _check_open(self):
        if self._sock is None:
            raise E.InvalidArgument("client is closed")

    def _next_seq(self):
        self._seq = (self._seq + 1) & U64
        return self._seq

    # --- the socket ---

    def _send(self, data, dst, state):
        try:
            self._sock.sendto(data, dst)
        except ConnectionRefusedError:
            # An earlier ICMP error surfaced on this send: read whom it
            # was about, and send once more.
            self._drain_errors(dst, state)
            try:
                self._sock.sendto(data, dst)
            except OSError:
                pass
        except OSError as e:
            # Transient: counts as a lost try.
            if e.errno not in (errno.EINTR, errno.ENOBUFS, errno.EAGAIN,
                               errno.EHOSTUNREACH, errno.ENETUNREACH):
                raise

    def _drain_errors(self, dst, state):
        """Read the error queue; note a port unreachable about dst."""
        while True:
            try:
                _, anc, _, addr = self._sock.recvmsg(
                    64, socket.CMSG_SPACE(_EE.size + 16), _MSG_ERRQUEUE |
                    socket.MSG_DONTWAIT)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                break
            for level, typ, data in anc:
                if level != socket.IPPROTO_IP or typ != _IP_RECVERR or \
                        len(data) < _EE.size:
                    continue
                ee_errno, origin = _EE.unpack_from(data)[:2]
                if (origin == _SO_EE_ORIGIN_ICMP and
                        ee_errno == errno.ECONNREFUSED and
                        tuple(addr[:2]) == tuple(dst)):
                    state["refused"] = True
        try:
            self._sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        except OSError:
            pass

    @staticmethod
    def _matches(m, req):
        if not (m.flags & F_REPLY) or m.client_id != req.client_id or \
                m.seq != req.seq or m.op != req.op:
            return False
        # Replies repeat the key; one naming another key is not ours. A
        # reply without one (the node could not parse that far) is.
        return not m.key or m.key == req.key

    def _wait_reply(self, req, probe, dst, wait, state):
        """Wait up to `wait` s for req's reply (1) or probe's (2), from any
        address. Returns (which, reply, source); which 0 = timed out."""
        end = _now() + wait
        while True:
            left = max(0.0, end - _now())
            try:
                r, _, x = select.select([self._sock], [], [self._sock], left)
            except InterruptedError:
                continue
            if not r and not x:
                return 0, None, None
            try:
                data, src = self._sock.recvfrom(65536, socket.MSG_DONTWAIT)
            except InterruptedError:
                continue
            except (BlockingIOError, OSError) as e:
                # Readable without data: an ICMP error on the error queue
                # (select reports it as readable until the queue is read),
                # whose pending errno a send may already have taken.
                if isinstance(e, BlockingIOError) or e.errno in (
                        errno.ECONNREFUSED, errno.EHOSTUNREACH,
                        errno.ENETUNREACH):
                    self._drain_errors(dst, state)
                    if left <= 0:
                        return 0, None, None
                    continue
                raise
            hit = None
            for m in decode_prefix(data):
                if hit is None and self._matches(m, req):
                    hit = (1, m, src)
                elif hit is None and probe is not None and \
                        self._matches(m, probe):
                    hit = (2, m, src)
                else:
                    self.stats["stray"] += 1
            if hit is not None:
                return hit
            if left <= 0:
                # A flood of strays must not hold a try past its time.
                return 0, None, None

    # --- the cluster map ---

    def _map_addrs(self):
        return list(self.map.nodes.values()) if self.map else []

    def _fetch_cands(self, first, avoid):
        cands = []
        for a in ([first] if first else []) + self.seeds + self._map_addrs():
            a = tuple(a)
            if a not in cands and a != avoid:
                cands.append(a)
        if avoid is not None and tuple(avoid) not in cands:
            cands.append(tuple(avoid))
        return cands

    def _fetch_map(self, first=None, avoid=None, deadline=False):
        """Fetch the map text chunk by chunk with MAP_GET and install it.
        Asks first (the node that said MOVED), the seeds, the map's nodes,
        and avoid (a silent node) last; a node that does not answer a
        chunk costs one timeout and the next is asked for the same chunk
        (every node of an epoch serves the same text). A node at the
        cached map's epoch ends it at once: the map is current. Returns
        None on success, else the error (not raised)."""
        self.stats["map_fetches"] += 1
        cands = self._fetch_cands(first, avoid)
        limit = max(self._tries, len(cands))
        b = _Budget(self, deadline)
        b.tries = float("inf")
        b.wait = self.timeout
        req = Msg(op=OP_MAP_GET, client_id=self.client_id,
                  seq=self._next_seq())
        text, total, epoch = b"", 0, 0
        lost = ci = restarts = sent = 0
        bad = False
        all_refused = True
        backoff = RETRY_BACKOFF_FIRST
        while lost < limit:
            wait = b.take()
            if not wait:
                break
            req.arg = len(text)
            dst = cands[ci]
            state = {"refused": False}
            self._send(req.encode(), dst, state)
            sent += 1
            which, rep, src = self._wait_reply(req, None, dst, wait, state)
            if not which:
                all_refused &= state["refused"]
                lost += 1
                ci = (ci + 1) % len(cands)
                continue
            all_refused = False
            self.epoch = rep.epoch

            def skip():
                nonlocal bad, lost, ci
                bad = True
                lost += 1
                ci = (ci + 1) % len(cands)

            if rep.status == ST_UNKNOWN_OP:
                if self.map is None:
                    # A node from before the map: it is the cluster.
                    self._single = tuple(src)
                    return "unsupported"
                skip()
                continue
            if rep.status == ST_RETRY:
                backoff = b.pause(self, backoff)
                lost += 1
                continue
            if rep.status != ST_OK or rep.arg == 0 or rep.arg > MAP_TEXT_MAX:
                skip()
                continue
            if not text and self.map is not None and \
                    rep.epoch <= self.map.epoch:
                if rep.epoch == self.map.epoch:
                    return None          # the cached map is current
                skip()                   # a node behind us: ask the next
                continue
            if text and (rep.epoch != epoch or rep.arg != total):
                # The text changed under us: start again at offset 0.
                restarts += 1
                if restarts > MAP_FETCH_RESTARTS_MAX:
                    self.stats["map_fetch_failures"] += 1
                    return E.ProtocolError("cluster map changed %d times "
                                           "during one fetch" % restarts)
                text = b""
                req.seq = self._next_seq()
                continue
            if not text:
                epoch, total = rep.epoch, rep.arg
            if not rep.value or len(rep.value) > total - len(text):
                skip()
                text = b""
                req.seq = self._next_seq()
                continue
            text += rep.value
            req.seq = self._next_seq()
            if len(text) < total:
                continue
            try:
                m = ClusterMap(text)
            except MapError:
                m = None
            if m is None or (self.map is not None and
                             m.epoch < self.map.epoch):
                skip()
                text = b""
                continue
            self.map = m
            self._single = None
            return None
        self.stats["map_fetch_failures"] += 1
        if bad:
            return E.ProtocolError("no node served a usable cluster map")
        if all_refused and sent:
            return E.Unreachable("every node asked for the map refused "
                                 "(nothing listens there)")
        return E.Timeout("no node answered MAP_GET within the budget",
                         OP_MAP_GET)

    def refresh_map(self):
        """Fetch the cluster map now (it is fetched lazily otherwise).
        Returns the map (a catena.ClusterMap, None for a node older than
        MAP_GET); raises Timeout, Unreachable or ProtocolError."""
        self._check_open()
        err = self._fetch_map()
        if err == "unsupported":
            return None
        if err is not None:
            raise err
        return self.map

    def _ensure_route(self, b):
        if self.map is not None:
            return
        if self._single is None:
            err = self._fetch_map(deadline=b.deadline)
            if err is None:
                return
            if err != "unsupported":
                raise err
        if not self.slot_count:
            self._ping(b.deadline)

    def _route(self, req, crc, to):
        """(dst, node): where to send req, and that node's own address
        (dst may be one of its worker ports). Fills slot and epoch."""
        if self.map is None:
            req.slot = crc & (self.slot_count - 1)
            req.epoch = 0
            dst = self._single or self.seeds[0]
            return dst, dst, None
        m = self.map
        req.slot = crc & (m.slots - 1)
        req.epoch = m.epoch
        if to is not None:
            nid = to
        else:
            chain = m.chain_of(req.slot)
            if req.op != OP_GET:
                nid = chain[0]
            elif m.craq:
                nid = self._rng.choice(chain)
            else:
                nid = chain[-1]
        if nid not in m.nodes:
            raise E.InvalidArgument("node %r is not in the map" % (nid,))
        return m.addr_for(nid, req.slot), m.nodes[nid], nid

    # --- PING ---

    def _ping(self, deadline):
        b = _Budget(self, deadline)
        req = Msg(op=OP_PING, client_id=self.client_id, seq=self._next_seq())
        data = req.encode()
        heard_retry = any_refused = False
        all_refused = True
        backoff = RETRY_BACKOFF_FIRST
        t = 0
        while True:
            wait = b.take()
            if not wait:
                break
            # A lost try moves to the next seed: any answers for the
            # cluster.
            dst = self._single or self.seeds[t % len(self.seeds)]
            t += 1
            state = {"refused": False}
            self._send(data, dst, state)
            which, rep, _ = self._wait_reply(req, None, dst, wait, state)
            any_refused |= state["refused"]
            if not which:
                all_refused &= state["refused"]
                b.silent(self)
                continue
            all_refused = False
            self.epoch = rep.epoch
            if rep.status == ST_RETRY and b.tries > 0 and b.left() > 0:
                heard_retry = True
                backoff = b.pause(self, backoff)
                continue
            if rep.status != ST_OK:
                raise E.status_error(rep, OP_PING)
            if not slot_count_valid(rep.arg):
                raise E.ProtocolError("PING reply: slot count %d is not a "
                                      "power of two" % rep.arg)
            if self.map is None:
                self.slot_count = rep.arg
            return Ping(rep.arg, rep.epoch)
        if heard_retry:
            raise E.Busy(Msg(op=OP_PING, status=ST_RETRY), OP_PING)
        if any_refused and all_refused:
            raise E.Unreachable("PING: connection refused (nothing listens "
                                "there)")
        self.stats["gave_up"] += 1
        raise E.Timeout("PING: no reply within the retry budget", OP_PING)

    # --- keyed requests ---

    def _probe_cands(self, silent):
        cands = []
        for a in self.seeds + self._map_addrs():
            a = tuple(a)
            if a != tuple(silent) and a not in cands:
                cands.append(a)
        return cands

    def _probe_send(self, pr, node, state):
        if self.map is None:
            return
        cands = self._probe_cands(node)
        if not cands:
            return
        if pr.sent and not pr.heard:
            self._probe_next += 1
        self._probe_next %= len(cands)
        self._send(pr.data, cands[self._probe_next], state)
        self.stats["refresh_on_silence"] += 1
        pr.sent = True
        pr.heard = False

    def _wait_try(self, req, pr, dst, node, wait, deadline, state):
        """One try's wait, taking the probe's answers meanwhile: one from a
        newer epoch fetches that map. Returns (which, reply, source),
        which = _REROUTED when the map changed."""
        end = _now() + wait
        while True:
            which, rep, src = self._wait_reply(
                req, pr.msg if pr.sent else None, dst,
                max(0.0, end - _now()), state)
            if which != 2:
                return which, rep, src
            pr.heard = True
            self.epoch = rep.epoch
            if rep.status != ST_OK or self.map is None or \
                    rep.epoch <= self.map.epoch:
                continue
            old = self.map.epoch
            self._fetch_map(first=src, avoid=node, deadline=deadline)
            if self.map.epoch != old:
                return _REROUTED, None, None

    def execute(self, op, key=b"", value=b"", arg=0, flags=0, to=None,
                trace=None):
        """Run one request and return its final reply (a catena.wire.Msg,
        whatever its status: the get/put/... methods turn statuses into
        results and exceptions). Routed by the map; `to` (a node id) sends
        it to that node instead and returns MOVED as it comes, without
        re-routing: a diagnostic. trace (a dict, if given) gets "nodes"
        (ids asked, in order), "from" (id of the replier), "moved",
        "retry", "silent". Raises Timeout when the budget is spent without
        an answer, Unreachable when every try was refused."""
        self._check_open()
        key = _as_bytes(key, "key")
        value = _as_bytes(value, "value")
        if trace is None:
            trace = {}
        trace.update({"nodes": [], "moved": 0, "retry": 0, "silent": 0,
                      "from": None})
        b = _Budget(self)
        self._ensure_route(b)
        crc = crc32c(key)
        req = Msg(op=op, key=key, value=value, arg=arg & U64, flags=flags,
                  client_id=self.client_id, seq=self._next_seq())
        pr = _Probe(self)
        retarget, got_retry, heard_retry, silent = True, False, False, False
        any_refused, all_refused = False, True
        moved = wrong_slot = 0
        backoff = RETRY_BACKOFF_FIRST
        first = True
        while True:
            if retarget:
                dst, node, nid = self._route(req, crc, to)
                data = req.encode()
                if len(data) > self._tx_cap:
                    raise E.TooLarge(None, op, key, "request of %d bytes "
                                     "over the %d-byte payload"
                                     % (len(data), self._tx_cap))
                retarget = False
            if got_retry:
                backoff = b.pause(self, backoff)
                got_retry = False
            wait = b.take()
            if not wait:
                break
            state = {"refused": False}
            trace["nodes"].append(nid)
            if not first:
                self.stats["resends"] += 1
            first = False
            self._send(data, dst, state)
            if silent and to is None:
                self._probe_send(pr, node, state)
            which, rep, src = self._wait_try(req, pr, dst, node, wait,
                                             b.deadline, state)
            any_refused |= state["refused"]
            if which == _REROUTED:
                # The interrupted try is given back; the new node starts
                # afresh.
                self.stats["rerouted"] += 1
                b.tries += 1
                b.wait = self.timeout
                silent = False
                retarget = True
                continue
            if not which:
                all_refused &= state["refused"]
                trace["silent"] += 1
                silent = True
                b.silent(self)
                continue
            all_refused = False
            silent = False
            self.epoch = rep.epoch
            trace["from"] = (self.map.node_of_addr(src) if self.map
                             else None)
            if rep.status == ST_RETRY:
                trace["retry"] += 1
                self.stats["retry"] += 1
                if b.tries > 0 and b.left() > 0:
                    got_retry = heard_retry = True
                    continue
                return rep
            if rep.status == ST_MOVED:
                trace["moved"] += 1
                self.stats["moved"] += 1
                if self.map is None or moved >= MOVED_MAX or to is not None:
                    return rep
                moved += 1
                b.tries += 1            # an answer, not a lost try
                if rep.epoch > self.map.epoch:
                    old = self.map.epoch
                    err = self._fetch_map(first=src, deadline=b.deadline)
                    if err is None and self.map.epoch != old:
                        retarget = True
                        continue
                if rep.arg not in self.map.nodes:
                    return rep
                # Nothing newer to fetch: go where the hint says.
                nid = rep.arg
                node = self.map.nodes[nid]
                dst = node
                continue
            if rep.status == ST_WRONG_SLOT:
                # Not executed, the slot was wrong: correct it and send it
                # as a new request (new seq, fresh budget), once.
                if wrong_slot:
                    return rep
                wrong_slot += 1
                b = _Budget(self)
                if self.map is not None:
                    err = self._fetch_map(first=src, deadline=b.deadline)
                    if err is not None:
                        return rep
                elif slot_count_valid(rep.arg):
                    self.slot_count = rep.arg
                else:
                    raise E.ProtocolError("WRONG_SLOT reply: slot count %d "
                                          "is not a power of two" % rep.arg)
                req.seq = self._next_seq()
                retarget = True
                continue
            return rep
        if heard_retry:
            return Msg(op=op, key=key, status=ST_RETRY, epoch=self.epoch,
                       client_id=req.client_id, seq=req.seq)
        if any_refused and all_refused:
            raise E.Unreachable("%s %r: connection refused (nothing listens "
                                "at %s:%d)" % (_opname(op), key[:60],
                                               dst[0], dst[1]))
        self.stats["gave_up"] += 1
        raise E.Timeout(_timeout_msg(op, key, self), op, key)

    # --- the API ---

    def _check_kv(self, key, vlen=0):
        key = _as_bytes(key, "key")
        if not key:
            raise E.InvalidArgument("empty key: keys are 1 to %d bytes"
                                    % KEY_MAX)
        if len(key) > KEY_MAX:
            raise E.TooLarge(None, None, key, "key of %d bytes, at most %d"
                             % (len(key), KEY_MAX))
        vmax = value_max(self.mtu, len(key))
        if vlen > vmax:
            raise E.TooLarge(None, None, key, "value of %d bytes, at most "
                             "%d at MTU %d" % (vlen, vmax, self.mtu))
        return key

    def _ok(self, op, key, rep, allowed=()):
        if rep.status == ST_OK or rep.status in allowed:
            return rep
        raise E.status_error(rep, op, key)

    def get(self, key, with_version=False):
        """The value of key (bytes), or None if absent. With
        with_version=True: (value, version), (None, 0) if absent."""
        key = self._check_kv(key)
        rep = self._ok(OP_GET, key, self.execute(OP_GET, key),
                       (ST_NOT_FOUND,))
        if rep.status == ST_NOT_FOUND:
            return (None, 0) if with_version else None
        return (rep.value, rep.arg) if with_version else rep.value

    def put(self, key, value):
        """Store value under key; returns the key's new version."""
        value = _as_bytes(value, "value")
        key = self._check_kv(key, len(value))
        return self._ok(OP_PUT, key, self.execute(OP_PUT, key, value)).arg

    def delete(self, key):
        """Delete key; returns the version the deleted value had, or None
        if the key was absent."""
        key = self._check_kv(key)
        rep = self._ok(OP_DEL, key, self.execute(OP_DEL, key),
                       (ST_NOT_FOUND,))
        return None if rep.status == ST_NOT_FOUND else rep.arg

    def cas(self, key, value, version=None, expected=None):
        """Compare and set: store value if the key's version is `version`
        (0: only if absent), or if its value is `expected` (bytes). Give
        exactly one. Returns the new version; raises CasFailed (with
        current_version) when the expectation is not met, NotFound for
        `expected` on an absent key."""
        value = _as_bytes(value, "value")
        if (version is None) == (expected is None):
            raise E.InvalidArgument("cas: give exactly one of version= and "
                                    "expected=")
        if version is not None:
            if not isinstance(version, int) or not 0 <= version <= U64:
                raise E.InvalidArgument("cas: version must be an unsigned "
                                        "64-bit int, not %r" % (version,))
            key = self._check_kv(key, len(value))
            return self._ok(OP_CAS, key, self.execute(OP_CAS, key, value,
                                                      version)).arg
        expected = _as_bytes(expected, "expected")
        key = self._check_kv(key, len(value))
        self._check_kv(key, len(expected))
        self._check_kv(key, len(expected) + len(value))
        return self._ok(OP_CAS, key, self.execute(
            OP_CAS, key, expected + value, len(expected), F_CAS_VALUE)).arg

    def incr(self, key, delta=1):
        """Add delta (a signed 64-bit int) to the decimal number stored
        under key (absent counts as 0); returns the new number."""
        if not isinstance(delta, int) or not -(1 << 63) <= delta < (1 << 63):
            raise E.InvalidArgument("incr: delta must be a signed 64-bit "
                                    "int, not %r" % (delta,))
        key = self._check_kv(key)
        rep = self._ok(OP_INCR, key, self.execute(OP_INCR, key, arg=delta))
        v = rep.value
        if not v or len(v) > 20 or not (v.isdigit() or
                                        (v[:1] == b"-" and v[1:].isdigit())):
            raise E.ProtocolError("INCR %r: reply value %r is not a number"
                                  % (key[:60], v[:40]))
        return int(v)

    def ping(self):
        """PING a seed node (the next one after a lost try); returns
        Ping(slot_count, epoch)."""
        self._check_open()
        return self._ping(_Budget(self).deadline)


def _opname(op):
    from .wire import OP_NAMES
    return OP_NAMES.get(op, str(op))


def _timeout_msg(op, key, c):
    if c._backoff:
        budget = "%.1f s" % c.deadline
    else:
        budget = "%s tries of %.3f s" % (c._tries, c.timeout)
    msg = "%s %r: no reply within the retry budget (%s)" % (
        _opname(op), key[:60], budget)
    if op in (OP_PUT, OP_DEL, OP_CAS, OP_INCR):
        msg += "; the write may have been applied"
    return msg
