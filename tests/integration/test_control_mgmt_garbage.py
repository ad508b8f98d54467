"""
Scenario: garbage on catena-control's management socket while it runs a
three-node cluster: a line that is not JSON, a JSON array, other non-object
JSON, an unknown or non-string cmd, a line of 100 KiB (over the 64 KiB
limit), requests missing their arguments or with arguments of the wrong
type, node_drain / node_remove of an unknown node, node_add
asking to join a chain, a NUL byte, invalid UTF-8, a line cut by EOF.
Each gets {"ok":false,"error":"<one line>"} (the oversized line may
instead have its connection closed); a good request on the same connection
afterwards is still answered; catena-control keeps running, the epoch and
the nodes' state do not change. catenactl refuses usage errors itself
(exit 64) and reports refusals (exit 1).
"""

import json

import pytest

from cluster import THREE_CHAINS
from control import connect_unix

BAD_LINES = [
    ("not json", b"this is not json"),
    ("json array", b"[1,2,3]"),
    ("json string", b'"status"'),
    ("json null", b"null"),
    ("json number", b"42"),
    ("empty object", b"{}"),
    ("truncated object", b'{"cmd":"status"'),
    ("unknown cmd", b'{"cmd":"frobnicate"}'),
    ("cmd not a string", b'{"cmd":5}'),
    ("cmd null", b'{"cmd":null}'),
    ("node_drain without node", b'{"cmd":"node_drain"}'),
    ("node_drain node is a string", b'{"cmd":"node_drain","node":"2"}'),
    ("node_drain node 0", b'{"cmd":"node_drain","node":0}'),
    ("node_drain node 70000", b'{"cmd":"node_drain","node":70000}'),
    ("node_drain node -1", b'{"cmd":"node_drain","node":-1}'),
    ("node_drain node 2.5", b'{"cmd":"node_drain","node":2.5}'),
    ("node_drain unknown node", b'{"cmd":"node_drain","node":42}'),
    ("node_remove unknown node", b'{"cmd":"node_remove","node":42}'),
    ("node_remove without node", b'{"cmd":"node_remove"}'),
    ("node_add without args", b'{"cmd":"node_add"}'),
    ("node_add without ip", b'{"cmd":"node_add","node":9}'),
    ("node_add bad ip", b'{"cmd":"node_add","node":9,"ip":"10.0.0.256"}'),
    ("node_add existing node",
     b'{"cmd":"node_add","node":1,"ip":"10.99.250.9"}'),
    ("node_add into an unknown chain",
     b'{"cmd":"node_add","node":9,"ip":"10.99.250.9","chain":99}'),
    ("node_add chain not a number",
     b'{"cmd":"node_add","node":9,"ip":"10.99.250.9","chain":"x"}'),
    ("node_add joining a chain it is in", b'{"cmd":"node_add","node":1,"chain":1}'),
    ("reshard_move to an unknown chain",
     b'{"cmd":"reshard_move","first":0,"last":5,"to":99}'),
    ("reshard_move no target", b'{"cmd":"reshard_move","first":0}'),
    ("reshard_rate negative", b'{"cmd":"reshard_rate","bytes_per_s":-1}'),
    ("chain_add existing chain", b'{"cmd":"chain_add","chain":1,"nodes":[1]}'),
    ("chain_add node twice", b'{"cmd":"chain_add","chain":7,"nodes":[1,1]}'),
    ("slots first out of range", b'{"cmd":"slots","first":5000}'),
    ("slots first a string", b'{"cmd":"slots","first":"x"}'),
    ("NUL byte", b'{"cmd":"sta\x00tus"}'),
    ("invalid UTF-8", b'{"cmd":"\xff\xfe"}'),
    ("deep nesting", b"[" * 5000 + b"]" * 5000),
]


def _status_or_none(ctl):
    a = ctl.request({"cmd": "status"})
    return a["result"] if a.get("ok") else None


def answer_lines(buf):
    return [json.loads(l) for l in buf.split(b"\n") if l.strip()]


def check_refusal(name, ans):
    assert ans.get("ok") is False, "%s: %r" % (name, ans)
    err = ans.get("error")
    assert isinstance(err, str) and err and "\n" not in err, (name, ans)


def test_mgmt_socket_garbage_each_refused_control_keeps_running_epoch_unchanged(
        make_control_cluster):
    c = make_control_cluster(chains=THREE_CHAINS, clients=1)
    ctl = c.ctl
    before = ctl.ctl_json("status")
    nodes_before = ctl.nodes()
    seen = {}

    for name, line in BAD_LINES:
        # The bad line, then a good request on the same connection.
        buf, closed = ctl.raw(line + b"\n" + b'{"cmd":"status"}\n',
                              timeout=3)
        ans = answer_lines(buf)
        assert ans, "%s: no answer (closed=%s)" % (name, closed)
        check_refusal(name, ans[0])
        seen[name] = ans[0]["error"]
        assert len(ans) == 2 and ans[1].get("ok") is True, (name, ans)
        assert ans[1]["result"]["epoch"] == before["epoch"], (name, ans)
        assert ctl.alive(), "catena-control died on %s:\n%s" % (
            name, ctl.stderr()[-2000:])

    # 100 KiB in one line: refused, or the connection closed.
    big = b'{"cmd":"status","pad":"' + b"x" * (100 << 10) + b'"}\n'
    buf, closed = ctl.raw(big + b'{"cmd":"status"}\n', timeout=3)
    ans = answer_lines(buf)
    print("100 KiB line: answers %r, closed by the server: %s"
          % ([a.get("error", a.get("ok")) for a in ans], closed))
    assert ans or closed, "no answer and not closed"
    if ans:
        check_refusal("100 KiB line", ans[0])
    assert ctl.alive()

    # Half a request, then EOF (a client that died writing it): refused.
    # (A complete last line without LF counts: catena-control executes it.)
    buf, closed = ctl.raw(b'{"cmd":"node_drain","node":', timeout=2)
    ans = answer_lines(buf)
    assert len(ans) == 1, buf
    check_refusal("request cut by EOF", ans[0])
    # Many requests in one write: answered in order.
    buf, _ = ctl.raw(b"".join(b'{"cmd":"status"}\n' for _ in range(50)) +
                     b"[]\n", timeout=3)
    ans = answer_lines(buf)
    assert len(ans) == 51 and all(a["ok"] for a in ans[:50]), len(ans)
    check_refusal("pipelined []", ans[50])

    # catenactl: usage errors never reach the socket; refusals exit 1.
    for args in (["frobnicate"], ["node", "drain"], ["node", "drain", "x"],
                 ["slots", "-3"], ["node", "add", "9"]):
        p = ctl.ctl(*args)
        assert p.returncode == 64, (args, p.returncode, p.stdout, p.stderr)
    p = ctl.ctl("node", "drain", 42)
    assert p.returncode == 1 and "42" in p.stdout + p.stderr, (
        p.returncode, p.stdout, p.stderr)
    p = ctl.ctl("node", "drain", 42, as_json=True)
    assert p.returncode == 1, p
    check_refusal("catenactl --json node drain 42", json.loads(p.stdout))

    after = ctl.ctl_json("status")
    assert after["epoch"] == before["epoch"], (before, after)
    assert ctl.ctl_json("epoch", "history")["total"] == 1
    nodes_after = ctl.nodes()
    for i in (1, 2, 3):
        assert nodes_after[i]["state"] == "up", nodes_after[i]
        assert nodes_after[i]["connected"], nodes_after[i]
        assert (nodes_after[i]["chains"] == nodes_before[i]["chains"])
    assert ctl.alive()
    print("refusals: " + "; ".join("%s -> %s" % kv for kv in seen.items()))


@pytest.mark.parametrize("n_conns", [200])
def test_mgmt_socket_many_idle_connections_do_not_block_requests(
        make_control_cluster, n_conns):
    """Connections that send nothing (or half a line) and stay open do not
    keep catena-control from answering others; beyond its connection limit
    it refuses or closes new ones, and keeps running."""
    c = make_control_cluster(chains=THREE_CHAINS, clients=1)
    ctl = c.ctl
    socks = []
    try:
        for i in range(n_conns):
            s = connect_unix(ctl.mgmt, 3)
            socks.append(s)
            if i % 2:
                try:
                    s.sendall(b'{"cmd":"sta')
                except OSError:
                    pass    # past the budget: refused and closed
        # Answered within a moment: a connection idle (nothing half-sent)
        # for CAT_CTL_MGMT_EVICT_MS makes room when the budget is full.
        st = ctl.wait_for("status answered despite the idle connections",
                          lambda: _status_or_none(ctl), timeout=3)
        assert st["epoch"] == 1 and st["nodes_up"] == 3, st
    finally:
        for s in socks:
            s.close()
    assert ctl.alive()
    assert ctl.result("status")["nodes_up"] == 3
