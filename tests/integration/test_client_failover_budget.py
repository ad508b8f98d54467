"""
Scenario: catena-control and three nodes with the shipped failure-detection
settings (node heartbeat_ms 200, catena-control heartbeat_timeout_ms 1000)
run one chain 1 -> 2 -> 3. A node is killed with SIGKILL and catena-cli
(libcatena) requests go to it at once, before catena-control has failed it:
a PUT to the dead head; a GET to the dead tail, and a PUT and an INCR that
stall there. With libcatena's default budget every one of them ends OK, on
the repaired chain, once the survivors serve the new map; the INCR, re-sent
with one request id throughout, counts once. A client given a budget
shorter than failure detection (3 tries of 100 ms) ends TIMEOUT (exit 4):
the failure the default budget must not have. Printed, never asserted: the
time from the kill to the survivors applying the new epoch, and to each
request's end.
"""

import subprocess
import threading
import time

import netns
import sanitizer
from cluster import ONE_CHAIN

# The shipped defaults (control/ctl_config.c, dataplane/config.c).
HB_TIMEOUT_MS = 1000
HEARTBEAT_MS = 200
# Ends well before the earliest possible failure (heartbeat_timeout_ms
# after the node's last heartbeat, which is at most heartbeat_ms before
# the kill): 300 ms against at least 800 ms.
SHORT_BUDGET = ("-t", "100", "-r", "2")


class Cli:
    """catena-cli in client namespace 0, not waited for: it runs while
    the test watches the failover; a thread notes when it ends."""

    def __init__(self, c, args, hosts):
        cmd = netns.nsexec(c.client_ns(0), c.bins["cli"], "-H",
                           ",".join(hosts), *[str(a) for a in args])
        self.p = subprocess.Popen(cmd, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        self.t = threading.Thread(target=self._wait, daemon=True)
        self.t.start()

    def _wait(self):
        self.out, self.err = self.p.communicate()
        self.end = time.monotonic()

    def result(self, timeout=20):
        """(exit status, stdout, stderr, monotonic end time)."""
        self.t.join(timeout)
        if self.t.is_alive():
            self.p.kill()
            self.t.join()
        sanitizer.check("catena-cli %s" % " ".join(self.p.args[4:]),
                        self.err, self.out)
        return self.p.returncode, self.out, self.err, self.end


def failover(c, victim, survivors, epoch, requests):
    """Kill `victim`, start `requests` ({name: (args, expected exit)}) at
    once with the victim first in the host list, wait for the survivors
    to apply `epoch`, then for the requests. Returns {name: (rc, stdout,
    stderr, ms after the kill)} and the ms to the new epoch."""
    hosts = [c.ip(victim)] + [c.ip(i) for i in survivors]
    t_kill = c.kill9(victim)
    procs = {name: Cli(c, args, hosts)
             for name, (args, _want) in requests.items()}

    def applied():
        t = c.ctl.nodes()
        if all((t[i]["epoch"] or 0) >= epoch for i in survivors):
            return time.monotonic()
        return None
    t_applied = c.ctl.wait_for("the survivors to apply epoch %d" % epoch,
                               applied, timeout=10, period=0.005)
    done = {}
    for name, p in procs.items():
        rc, out, err, t = p.result()
        done[name] = (rc, out, err, (t - t_kill) * 1000)
    map_ms = (t_applied - t_kill) * 1000
    print("FAILOVER kill -9 node %d (heartbeat_ms=%d, heartbeat_timeout_ms="
          "%d): epoch %d applied by %s %.0f ms after the kill; %s"
          % (victim, HEARTBEAT_MS, HB_TIMEOUT_MS, epoch, list(survivors),
             map_ms, ", ".join("%s exit %d at %.0f ms" % (n, d[0], d[3])
                               for n, d in done.items())))
    for name, (args, want) in requests.items():
        rc, out, err, ms = done[name]
        assert rc == want, ("%s (catena-cli %s): exit %d, want %d, %.0f ms "
                            "after the kill (new epoch at %.0f ms)\n"
                            "stdout: %s\nstderr: %s"
                            % (name, " ".join(args), rc, want, ms, map_ms,
                               out, err))
        if want == 4:
            assert "TIMEOUT" in err, err
    return done, map_ms


def cluster(make_control_cluster):
    c = make_control_cluster(chains=ONE_CHAIN, clients=1,
                             heartbeat_timeout_ms=HB_TIMEOUT_MS,
                             heartbeat_ms=HEARTBEAT_MS)
    r = c.cli("put", "warm", "up", host=",".join(c.seeds))
    assert r.returncode == 0, (r.stdout, r.stderr)
    return c


def test_kill9_head_write_in_flight_completes_with_default_budget(
        make_control_cluster):
    c = cluster(make_control_cluster)
    done, _ = failover(c, 1, (2, 3), 2, {
        "put default budget": (("put", "k-head", "v1"), 0),
        "put short budget": (SHORT_BUDGET + ("put", "k-short", "x"), 4),
    })
    assert done["put default budget"][1].startswith("OK version="), done
    # Written once, on the repaired chain 2 -> 3: read from its tail.
    r = c.cli("get", "k-head", host=c.ip(2))
    assert r.returncode == 0 and r.stdout == "v1\n", (r.stdout, r.stderr)
    c.adopt_map(2)
    assert c.epoch == 2 and c.chains == [[2, 3]], c.map.text


def test_kill9_tail_read_and_write_in_flight_complete_with_default_budget(
        make_control_cluster):
    c = cluster(make_control_cluster)
    done, _ = failover(c, 3, (1, 2), 2, {
        "get default budget": (("get", "warm"), 0),
        "put default budget": (("put", "k-tail", "v3"), 0),
        "incr default budget": (("incr", "ctr"), 0),
        "get short budget": (SHORT_BUDGET + ("get", "warm"), 4),
    })
    assert done["get default budget"][1] == "up\n", done
    # The INCR reached the head, stalled at the dead tail, and was re-sent
    # until the repaired chain committed it: applied once, because every
    # re-send carried the same request id.
    assert done["incr default budget"][1] == "1\n", done
    for key, want in (("k-tail", "v3\n"), ("ctr", "1\n")):
        r = c.cli("get", key, host=c.ip(1))
        assert r.returncode == 0 and r.stdout == want, (key, r.stdout,
                                                        r.stderr)
    c.adopt_map(1)
    assert c.epoch == 2 and c.chains == [[1, 2]], c.map.text
