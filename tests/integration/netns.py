"""
Network-namespace topology for the catena integration tests: one namespace
holding a Linux bridge (the "switch"), node namespaces whose veth end has no
IP (catena-node binds net_af_packet to it), and client namespaces with a
kernel IP stack. Everything lives in namespaces this module created, and
destroy() removes exactly those; it never touches the root namespace's links.
"""

import os
import subprocess
import time


def run(*args, check=True, timeout=30, input=None):
    """Run a command, return CompletedProcess; raise with its output on
    failure so a topology error names the command that failed."""
    p = subprocess.run(args, capture_output=True, text=True, timeout=timeout,
                       input=input)
    if check and p.returncode != 0:
        raise RuntimeError("command failed (%d): %s\nstdout: %s\nstderr: %s"
                           % (p.returncode, " ".join(args), p.stdout,
                              p.stderr))
    return p


def existing_namespaces():
    p = run("ip", "netns", "list", check=False)
    return {line.split()[0] for line in p.stdout.splitlines() if line.strip()}


def nsexec(ns, *args):
    return ["ip", "netns", "exec", ns] + list(args)


class Topology:
    """A bridge namespace plus node and client namespaces on it.

    Names: <base>-br, <base>-n1.., <base>-c1..; inside the bridge namespace
    the bridge is `br0` and its ports `p-n1`, `p-c1`; the node's end is
    `vn1`, a client's end `vc1`. Client i (1-based) gets 10.99.<net>.(99+i),
    node i is 10.99.<net>.i.
    """

    def __init__(self, base, net, mtu=1500):
        self.base = base
        self.net = net
        self.mtu = mtu
        self.bridge_ns = base + "-br"
        self.nodes = []     # list of dicts: ns, ip, iface
        self.clients = []   # list of dicts: ns, ip, iface
        self.created = []   # namespaces to delete, in creation order

    # --- building ---

    def _add_ns(self, name):
        if name in existing_namespaces():
            raise RuntimeError("network namespace %s already exists (a stale "
                               "run?); delete it with `ip netns del %s`"
                               % (name, name))
        run("ip", "netns", "add", name)
        self.created.append(name)
        run("ip", "-n", name, "link", "set", "lo", "up")
        # No IPv6 anywhere: keeps router solicitations and DAD out of the
        # node's rx path and the counters.
        for key in ("all", "default"):
            run(*nsexec(name, "sysctl", "-qw",
                        "net.ipv6.conf.%s.disable_ipv6=1" % key), check=False)

    def create_bridge(self):
        self._add_ns(self.bridge_ns)
        run("ip", "-n", self.bridge_ns, "link", "add", "br0", "type",
            "bridge", "forward_delay", "0", "stp_state", "0")
        run("ip", "-n", self.bridge_ns, "link", "set", "br0", "mtu",
            str(self.mtu))
        run("ip", "-n", self.bridge_ns, "link", "set", "br0", "up")
        # Bridged IPv4 must not detour through iptables when br_netfilter
        # is loaded (it drops malformed IPv4 before the node sees it, and
        # would apply the host's rules). Per namespace on current kernels.
        for f in ("iptables", "ip6tables", "arptables"):
            run(*nsexec(self.bridge_ns, "sysctl", "-qw",
                        "net.bridge.bridge-nf-call-%s=0" % f), check=False)

    def _veth(self, ns, inner, port):
        # Created inside the bridge namespace and moved: no name ever
        # exists in the root namespace, so parallel runs cannot clash.
        run("ip", "-n", self.bridge_ns, "link", "add", port, "mtu",
            str(self.mtu), "type", "veth", "peer", "name", inner, "mtu",
            str(self.mtu), "netns", ns)
        run("ip", "-n", self.bridge_ns, "link", "set", port, "master", "br0")
        run("ip", "-n", self.bridge_ns, "link", "set", port, "up")

    def add_node(self, iface="vn1", mac=None):
        """A node namespace; its veth end `iface` gets `mac` (if given)
        before it comes up: cluster peers address each other by the map's
        MAC, there is no ARP between nodes."""
        i = len(self.nodes) + 1
        ns = "%s-n%d" % (self.base, i)
        self._add_ns(ns)
        self._veth(ns, iface, "p-n%d" % i)
        run(*nsexec(ns, "sysctl", "-qw",
                    "net.ipv6.conf.%s.disable_ipv6=1" % iface), check=False)
        if mac:
            run("ip", "-n", ns, "link", "set", iface, "address", mac)
        run("ip", "-n", ns, "link", "set", iface, "up")
        node = {"ns": ns, "ip": "10.99.%d.%d" % (self.net, i), "iface": iface,
                "port": "p-n%d" % i, "mac": mac}
        self.nodes.append(node)
        return node

    def add_client(self):
        i = len(self.clients) + 1
        ns = "%s-c%d" % (self.base, i)
        self._add_ns(ns)
        self._veth(ns, "vc1", "p-c%d" % i)
        ip = "10.99.%d.%d" % (self.net, 99 + i)
        run("ip", "-n", ns, "addr", "add", ip + "/24", "dev", "vc1")
        run("ip", "-n", ns, "link", "set", "vc1", "up")
        # Full checksums on the wire, as a real NIC would deliver them: the
        # node reads frames through AF_PACKET, which would otherwise see
        # veth's unfinished (CHECKSUM_PARTIAL) UDP checksums.
        run(*nsexec(ns, "ethtool", "-K", "vc1", "tx", "off"), check=False)
        client = {"ns": ns, "ip": ip, "iface": "vc1", "port": "p-c%d" % i}
        self.clients.append(client)
        return client

    def wait_up(self, timeout=5.0):
        """Wait for every veth to report carrier (both ends up)."""
        deadline = time.monotonic() + timeout
        ends = [(n["ns"], n["iface"]) for n in self.nodes + self.clients]
        while True:
            down = []
            for ns, ifc in ends:
                p = run("ip", "-n", ns, "-o", "link", "show", ifc,
                        check=False)
                if "LOWER_UP" not in p.stdout:
                    down.append("%s/%s" % (ns, ifc))
            if not down:
                return
            if time.monotonic() > deadline:
                raise RuntimeError("links not up: %s" % ", ".join(down))
            time.sleep(0.05)

    # --- teardown ---

    def destroy(self):
        """Delete every namespace this topology created (their veths and the
        bridge go with them). Collects errors and raises at the end, so one
        failure does not leave the rest behind."""
        errors = []
        for ns in reversed(self.created):
            p = run("ip", "netns", "del", ns, check=False)
            if p.returncode != 0 and ns in existing_namespaces():
                errors.append("%s: %s" % (ns, p.stderr.strip()))
        self.created = []
        if errors:
            raise RuntimeError("could not delete namespaces: "
                               + "; ".join(errors))


def pick_base(prefix):
    """A base name not used by any existing namespace."""
    names = existing_namespaces()
    for suffix in [""] + [chr(c) for c in range(ord("a"), ord("z") + 1)]:
        base = prefix + suffix
        if not any(n.startswith(base + "-") for n in names):
            return base
    raise RuntimeError("no free namespace name for prefix " + prefix)


def pid_tag():
    return "ct%d" % (os.getpid() % 1000)
