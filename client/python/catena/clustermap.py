"""
The cluster map's text (docs/CLUSTER_MAP.md) parsed for routing: which
chain holds a slot, which nodes are its head and tail, and the UDP port
a node takes a slot's requests on. It reads the canonical text nodes
serve and hand-written maps; it is not a validator (replication/map.c is).
"""

from .wire import DEFAULT_PORT


class MapError(ValueError):
    """A map text this parser cannot route with."""


class ClusterMap:
    """A parsed cluster map: epoch, slots, craq, nodes {id: (ip, port)},
    macs {id: mac}, workers {id: count}, chains {id: [node ids, head
    first]}, joining {chain: node}, moving {chain: (to, from)} and
    slot_chain (slot -> chain id)."""

    def __init__(self, text):
        if isinstance(text, bytes):
            try:
                text = text.decode("ascii")
            except UnicodeDecodeError as e:
                raise MapError("map text is not ASCII: %s" % e)
        self.text = text
        self.epoch = None
        self.slots = None
        self.craq = False
        self.nodes = {}
        self.macs = {}
        self.workers = {}
        self.chains = {}
        self.chain_order = []
        self.joining = {}
        self.moving = {}
        assigns = []
        for n, line in enumerate(text.split("\n"), 1):
            toks = line.split("#", 1)[0].split()
            if not toks:
                continue
            d, a = toks[0], toks[1:]
            try:
                if d == "epoch":
                    self.epoch = int(a[0])
                elif d == "slots":
                    self.slots = int(a[0])
                elif d == "craq":
                    self.craq = a[0] == "on"
                elif d == "workers":
                    self.workers[int(a[0])] = int(a[1])
                elif d == "node":
                    ip, _, port = a[1].partition(":")
                    self.nodes[int(a[0])] = (ip, int(port or DEFAULT_PORT))
                    if len(a) > 2:
                        self.macs[int(a[0])] = a[2].lower()
                elif d == "chain":
                    self.chains[int(a[0])] = [int(x) for x in a[1:]]
                    self.chain_order.append(int(a[0]))
                elif d == "assign":
                    assigns.append((n, a))
                elif d == "join":
                    self.joining[int(a[0])] = int(a[1])
                elif d == "move":
                    self.moving[int(a[0])] = (int(a[1]), int(a[2]))
                else:
                    raise MapError("line %d: unknown directive %r" % (n, d))
            except (IndexError, ValueError) as e:
                if isinstance(e, MapError):
                    raise
                raise MapError("line %d: %r: %s" % (n, line, e))
        if self.epoch is None or self.slots is None:
            raise MapError("no epoch or slots line")
        if not 1 <= self.slots <= 65536 or self.slots & (self.slots - 1):
            raise MapError("slots %d is not a power of two up to 65536"
                           % self.slots)
        self.slot_chain = [None] * self.slots
        for n, a in assigns:
            try:
                if a[0] == "all":
                    for s in range(self.slots):
                        self.slot_chain[s] = self.chain_order[
                            s % len(self.chain_order)]
                    continue
                lo, _, hi = a[0].partition("-")
                for s in range(int(lo), int(hi or lo) + 1):
                    self.slot_chain[s] = int(a[1])
            except (IndexError, ValueError, ZeroDivisionError) as e:
                raise MapError("line %d: assign %s: %s" % (n, " ".join(a), e))
        if None in self.slot_chain:
            raise MapError("slot %d unassigned" % self.slot_chain.index(None))
        for cid in set(self.slot_chain):
            members = self.chains.get(cid)
            if not members:
                raise MapError("slots assigned to unknown or empty chain %d"
                               % cid)
            for nid in members:
                if nid not in self.nodes:
                    raise MapError("chain %d names unknown node %d"
                                   % (cid, nid))

    def chain_of(self, slot):
        """Node ids of the slot's chain, head first."""
        return self.chains[self.slot_chain[slot]]

    def head(self, slot):
        return self.chain_of(slot)[0]

    def tail(self, slot):
        return self.chain_of(slot)[-1]

    def addr_for(self, node, slot):
        """Where to send a request for slot to node: its worker port for
        the slot if the map announces its workers, else its address."""
        ip, port = self.nodes[node]
        w = self.workers.get(node)
        return (ip, port + 1 + slot % w) if w else (ip, port)

    def node_of_addr(self, addr):
        """The id of the node at (ip, port), or None."""
        for nid, a in self.nodes.items():
            if a[0] == addr[0] and a[1] == addr[1]:
                return nid
        return None
