"""
Scenario: catena-control under pressure from its own clients, with a
three-node cluster and no fault anywhere in it (issue 14, items 1 and 2).

- Management clients that pipeline heavy requests (`epoch_history`,
  `slots`) without reading the answers must not delay the node channel or
  the failure detector: no node is failed, the epoch does not move, other
  operators are still answered, and a client that stops reading is dropped
  after mgmt_send_timeout_ms and counted.
- Connections that never authenticate (node channel) or never send a
  request (management socket) must not lock nodes or operators out: the
  node channel and the management socket have budgets of their own, an
  unauthenticated node connection is closed at its deadline, a node that
  restarts while the node channel is flooded rejoins, `status` answers,
  and the refusals are summarised in a few events, not one per connection.
"""

import socket
import threading
import time

from cluster import THREE_CHAINS
from control import connect_unix


def flood(path, stop, sent, lines):
    """Pipeline requests on one management connection, never reading."""
    try:
        s = connect_unix(path, 3)
    except OSError:
        return
    s.settimeout(0.2)
    blob = b"".join(lines) * 64
    try:
        while not stop.is_set():
            try:
                n = s.send(blob)
                sent[0] += n
            except socket.timeout:
                continue    # the server stopped reading us: fair
            except OSError:
                break       # dropped: also fair
    finally:
        s.close()


def test_mgmt_clients_that_do_not_read_fail_no_node(make_control_cluster):
    c = make_control_cluster(chains=THREE_CHAINS, clients=1,
                             control_conf="mgmt_send_timeout_ms = 1500\n")
    ctl = c.ctl
    before = ctl.result("status")
    assert before["nodes_up"] == 3, before
    lines = [b'{"cmd":"epoch_history","last":1000}\n',
             b'{"cmd":"slots","first":0,"count":512}\n']
    stop = threading.Event()
    sent = [[0] for _ in range(4)]
    th = [threading.Thread(target=flood, args=(ctl.mgmt, stop, sent[i], lines))
          for i in range(4)]
    for t in th:
        t.start()
    worst = 0.0
    try:
        # Four seconds: five heartbeat timeouts (800 ms in these tests).
        deadline = time.monotonic() + 4.0
        while time.monotonic() < deadline:
            t0 = time.monotonic()
            st = ctl.result("status")
            worst = max(worst, time.monotonic() - t0)
            assert st["epoch"] == before["epoch"], (
                "epoch moved while management clients flooded the socket:"
                "\n%s" % ctl.stderr()[-3000:])
            assert st["nodes_up"] == 3, st
            time.sleep(0.1)
    finally:
        stop.set()
        for t in th:
            t.join()
    st = ctl.result("status")
    print("flooders sent %s bytes; slowest status answer %.1f ms; loop %r"
          % ([s[0] for s in sent], worst * 1000, st.get("loop")))
    assert st["epoch"] == before["epoch"], st
    assert "no heartbeat" not in ctl.stderr(), ctl.stderr()[-3000:]
    for n in ctl.nodes().values():
        assert n["state"] == "up" and n["connected"], n
    # Each flooder stopped reading for longer than mgmt_send_timeout_ms
    # and was dropped for it, and counted.
    conns = st["connections"]
    assert conns["mgmt"]["dropped_not_reading"] >= 4, st
    assert worst < 1.0, "status took %.0f ms during the flood" % (worst * 1000)
    assert ctl.alive()


def test_idle_connections_lock_out_neither_nodes_nor_operators(
        make_control_cluster):
    c = make_control_cluster(chains=THREE_CHAINS, clients=1,
                             control_conf="auth_timeout_ms = 1000\n")
    ctl = c.ctl
    node_socks, mgmt_socks = [], []
    try:
        # Far more than either budget: connections that say nothing.
        for _ in range(300):
            try:
                node_socks.append(connect_unix(ctl.node_sock, 2))
            except OSError:
                break
        for _ in range(300):
            try:
                mgmt_socks.append(connect_unix(ctl.mgmt, 2))
            except OSError:
                break
        # Operators: the management budget is full of idle connections,
        # yet status is answered: one idle for a second makes room (and
        # the node channel's flood is another budget's business).
        time.sleep(1.2)
        st = ctl.result("status")
        assert st["nodes_up"] == 3, st
        # A node restarting while the node channel is flooded connects
        # again: the idle, unauthenticated connections are cut at their
        # deadline (1 s here) or make way for it.
        c.kill9(2)
        c.restart(2)
        ctl.wait_for("node 2 connected again after its restart",
                     lambda: ctl.nodes()[2]["connected"], timeout=15)
        st = ctl.result("status")
        conns = st["connections"]
        print("connections after the flood: %r" % conns)
        assert conns["node"]["refused"] + conns["node"]["timed_out"] > 0, st
        assert conns["node"]["timed_out"] > 0, st
        assert conns["mgmt"]["refused"] > 0, st
        assert conns["mgmt"]["idle_closed"] > 0, st
        assert conns["node"]["open"] <= conns["node"]["budget"], st
        assert conns["mgmt"]["open"] <= conns["mgmt"]["budget"], st
        # One summary per burst, not one event per refused connection:
        # the last events still say what else happened (node 2's return).
        about = [e["text"] for e in st["events"]
                 if e["text"].startswith(("node channel:",
                                          "management socket:"))]
        print("events about the flood: %r" % about)
        assert 0 < len(about) <= 10, about
        assert any("node 2" in e["text"] for e in st["events"]), st["events"]
    finally:
        for s in node_socks + mgmt_socks:
            s.close()
    assert ctl.alive()
    assert ctl.result("status")["nodes_up"] == 3


def test_a_stalled_control_loop_is_counted_and_fails_no_node(
        make_control_cluster):
    """catena-control frozen for twice the heartbeat timeout (SIGSTOP: a
    VM pause, a slow disk): on waking it tells its own stall from the
    nodes' silence, fails nobody, and shows the stall in status."""
    import signal
    c = make_control_cluster(chains=THREE_CHAINS, clients=1)
    ctl = c.ctl
    epoch = ctl.result("status")["epoch"]
    ctl.proc.send_signal(signal.SIGSTOP)
    try:
        time.sleep(1.6)
    finally:
        ctl.proc.send_signal(signal.SIGCONT)
    time.sleep(1.0)   # past another heartbeat timeout after the stall
    st = ctl.result("status")
    print("after a 1.6 s freeze: loop %r" % st["loop"])
    assert st["epoch"] == epoch, ctl.stderr()[-3000:]
    assert st["nodes_up"] == 3, st
    assert st["loop"]["stalls"] >= 1, st["loop"]
    # What it overslept past the wait it asked for (at most 1 s of the 1.6).
    assert st["loop"]["longest_stall_ms"] >= 500, st["loop"]
    assert any("control loop stalled" in e["text"] for e in st["events"]), (
        st["events"])
