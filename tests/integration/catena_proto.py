"""
The integration tests' view of the catena wire: everything a client
needs comes from the catena package (client/python/catena: the wire
format, CRC-32C slots, the cluster map, the routing client); what stays
here is test-only: a raw single-node client that sends frames as given
and pipelines batches (malformed frames, exact re-sends), the MORE flag
the node must reject, and ClusterClient, the package's Client with the
(reply, info) results the cluster workloads record.
Standard library only: it runs inside client namespaces via workload.py.
Never sends anything by itself; the clients only talk to the addresses given.
"""

import os
import select
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "..", "client", "python"))
import catena  # noqa: E402
from catena.clustermap import ClusterMap, MapError  # noqa: E402,F401
from catena.wire import *  # noqa: E402,F401,F403
from catena.wire import (HDR_LEN, DEFAULT_PORT, F_REPLY, Msg,  # noqa: E402
                         decode_all, slot_of)

PAYLOAD_MAX_1500 = 1472

# Not a protocol flag: a reserved bit, which a node must refuse.
F_MORE = 0x04


# --- a raw single-node client: frames and pipelined batches (test-only) ---

class Timeout(Exception):
    pass


class Client:
    """Blocking UDP client. Every request gets a fresh seq; a try that gets
    no reply within timeout is re-sent as the SAME bytes (same client_id and
    seq), as libcatena does. Replies are matched on (client_id, seq)."""

    def __init__(self, host, port=DEFAULT_PORT, slots=1024, timeout=0.5,
                 retries=5, client_id=None, mtu=1500):
        self.addr = (host, port)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.sock.bind(("0.0.0.0", 0))
        self.slots = slots
        self.timeout = timeout
        self.retries = retries
        self.client_id = (client_id if client_id is not None
                          else (int.from_bytes(os.urandom(4), "little") or 1))
        self.seq = int.from_bytes(os.urandom(2), "little") << 16
        self.mtu = mtu
        self.resends = 0      # datagrams sent again after a timeout
        self.stray = 0        # replies that matched nothing outstanding

    def close(self):
        self.sock.close()

    def next_seq(self):
        self.seq += 1
        return self.seq

    def make(self, op, key=b"", value=b"", arg=0, flags=0, slot=None):
        if isinstance(key, str):
            key = key.encode()
        if isinstance(value, str):
            value = value.encode()
        if slot is None:
            slot = slot_of(key, self.slots)
        return Msg(op=op, key=key, value=value, arg=arg, flags=flags,
                   slot=slot, client_id=self.client_id, seq=self.next_seq())

    # raw datagram I/O
    def send_raw(self, data):
        self.sock.sendto(data, self.addr)

    def recv_raw(self, timeout):
        """One datagram or None after timeout seconds."""
        r, _, _ = select.select([self.sock], [], [], max(timeout, 0))
        if not r:
            return None
        data, _ = self.sock.recvfrom(65535)
        return data

    def drain(self, quiet=0.2):
        """Every datagram that arrives until `quiet` seconds pass without one."""
        out = []
        while True:
            d = self.recv_raw(quiet)
            if d is None:
                return out
            out.append(d)

    def exchange(self, msgs, per_packet=None, window=16):
        """Send msgs (already built with make()), packing several per
        datagram up to the payload limit (or `per_packet`), keeping `window`
        datagrams in flight; re-send a datagram unchanged until all its
        messages are answered. Returns replies in the order of msgs."""
        limit = self.mtu - 28
        packets = []  # list of (bytes, [seq...])
        cur, cur_seqs = b"", []
        for m in msgs:
            b = m.encode()
            if cur and (len(cur) + len(b) > limit or
                        (per_packet and len(cur_seqs) >= per_packet)):
                packets.append((cur, cur_seqs))
                cur, cur_seqs = b"", []
            cur += b
            cur_seqs.append(m.seq)
        if cur:
            packets.append((cur, cur_seqs))

        replies = {}
        pending = {}  # packet index -> (deadline, tries)
        nxt = 0
        while nxt < len(packets) or pending:
            while nxt < len(packets) and len(pending) < window:
                self.send_raw(packets[nxt][0])
                pending[nxt] = [time.monotonic() + self.timeout, 0]
                nxt += 1
            earliest = min(v[0] for v in pending.values())
            d = self.recv_raw(earliest - time.monotonic())
            if d is not None:
                for r in decode_all(d):
                    if (r.client_id == self.client_id and r.flags & F_REPLY
                            and r.seq not in replies):
                        replies[r.seq] = r
                    else:
                        self.stray += 1
                for i in list(pending):
                    if all(s in replies for s in packets[i][1]):
                        del pending[i]
                continue
            now = time.monotonic()
            for i, v in list(pending.items()):
                if v[0] <= now:
                    if v[1] >= self.retries:
                        missing = [s for s in packets[i][1] if s not in replies]
                        raise Timeout("no reply to seq %s after %d tries"
                                      % (missing[:5], v[1] + 1))
                    v[1] += 1
                    v[0] = now + self.timeout
                    self.resends += 1
                    self.send_raw(packets[i][0])
        return [replies[m.seq] for m in msgs]

    def request(self, op, key=b"", value=b"", arg=0, flags=0, slot=None):
        m = self.make(op, key, value, arg, flags, slot)
        r = self.exchange([m])[0]
        if r.status == ST_WRONG_SLOT and slot is None and r.arg:
            self.slots = r.arg
            return self.request(op, key, value, arg, flags)
        return r


class ClusterClient(catena.Client):
    """The package's routing client (libcatena's rules: map from
    MAP_GET, writes to the head, reads to the tail or a CRAQ replica,
    MOVED followed with the same request id, RETRY backoff, a probe for
    a newer map on every silent re-send) with an explicit budget of
    1 + retries tries of `timeout` each, and the interface the cluster
    workloads record: request() returns (reply Msg or None if it gave
    up, info), info = nodes asked, replier, moved, retry and silent
    counts; stats counts across requests."""

    MOVED_MAX = catena.client.MOVED_MAX

    def __init__(self, seeds, timeout=0.2, retries=10, refresh_every=None,
                 client_id=None, rng=None, map_timeout=None):
        # refresh_every and map_timeout are kept for old callers: the
        # package probes on every silent re-send and fetches with the
        # per-try timeout, as libcatena does.
        super().__init__([(h, DEFAULT_PORT) if isinstance(h, str) else
                          tuple(h) for h in seeds], timeout=timeout,
                         retries=retries, client_id=client_id, rng=rng)

    def fetch_map(self, first=None, last=None):
        """Refresh the map (first asked first, last asked last); True if
        the client holds one afterwards."""
        self._fetch_map(first, last)
        return self.map is not None

    def request(self, op, key=b"", value=b"", arg=0, flags=0, to=None):
        info = {}
        try:
            r = self.execute(op, key, value, arg, flags, to=to, trace=info)
        except (catena.Timeout, catena.Unreachable):
            return None, info
        return r, info
