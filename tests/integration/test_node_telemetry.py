"""
Scenario: an operator reads the node's DPDK telemetry with the stock
dpdk-telemetry.py. /catena/stats, /catena/lcores and /catena/slots answer,
and the per-slot key counts are exactly what the client wrote.
"""

import collections

import catena_proto as cp


def slot_entries(v):
    """{slot: entry} from /catena/slots, whichever of the natural JSON
    shapes the node uses (dict keyed by slot, or a list with a slot field)."""
    src = v.get("slots", v) if isinstance(v, dict) else v
    out = {}
    if isinstance(src, dict):
        for k, e in src.items():
            if isinstance(e, dict) and str(k).isdigit():
                out[int(k)] = e
    elif isinstance(src, list):
        for e in src:
            if isinstance(e, dict) and "slot" in e:
                out[int(e["slot"])] = e
    return out


def all_slots(node):
    """Every page of /catena/slots (100 slots a page; "next" = where the
    following page starts, -1 at the end). Returns (first page, entries)."""
    first = node.telemetry("/catena/slots")["/catena/slots"]
    assert isinstance(first, dict), "/catena/slots answered %r" % (first,)
    entries = slot_entries(first)
    page, pages = first, 1
    while int(page.get("next", -1)) >= 0:
        cmd = "/catena/slots,%d" % int(page["next"])
        page = node.telemetry(cmd)[cmd]
        assert isinstance(page, dict), "%s answered %r" % (cmd, page)
        entries.update(slot_entries(page))
        pages += 1
        assert pages < 1000
    return first, entries


def test_telemetry_counts_match_what_was_written(cluster):
    n = 300
    res = cluster.workload({"mode": "fill", "n": n, "prefix": "tel"})
    assert res["get_ok"] == n
    expect = collections.Counter(
        cp.slot_of(("tel-%06d" % i).encode(), 1024) for i in range(n))

    tel = cluster.node.telemetry("/catena/stats", "/catena/lcores", "/catena/slots")
    stats, lcores, slots = (tel["/catena/stats"], tel["/catena/lcores"],
                            tel["/catena/slots"])
    for name in ("rx_packets", "tx_packets", "requests_get", "drop_bad_magic",
                 "drop_short"):
        assert name in stats, "/catena/stats lacks %s: %r" % (name, sorted(stats))
    assert int(stats["rx_packets"]) > 0 and int(stats["tx_packets"]) > 0
    assert int(stats["requests_get"]) >= n

    assert lcores, "/catena/lcores is empty"
    # Workers sleep exactly: the kernel's least timer slack, not 50 us.
    for name, w in lcores.items():
        assert int(w["timer_slack_ns"]) == 1, (name, w)

    assert isinstance(slots, dict) and int(slots.get("slot_count", 0)) == 1024, slots
    assert int(slots["slots_with_keys"]) == len(expect), slots
    assert int(stats["store_keys"]) == n, "store_keys %r" % stats["store_keys"]
    _, entries = all_slots(cluster.node)
    got = {s: int(e["keys"]) for s, e in entries.items() if int(e.get("keys", 0)) > 0}
    assert got == dict(expect), (
        "per-slot key counts differ: missing %r, extra %r" % (
            {s: c for s, c in expect.items() if got.get(s) != c},
            {s: c for s, c in got.items() if expect.get(s) != c}))
    for s, e in entries.items():
        owner = e.get("owner", e.get("worker"))
        if owner is not None:
            assert int(owner) == 0, "one worker owns every slot: %r" % e
    workers = [w for w in lcores.values() if isinstance(w, dict)]
    assert len(workers) == 1 and int(workers[0]["slots_owned"]) == 1024, lcores


def test_telemetry_slot_counts_follow_deletes(cluster):
    cluster.ops([{"op": "put", "key": "t1", "value": "a"},
                 {"op": "put", "key": "t2", "value": "b"},
                 {"op": "del", "key": "t1"}])
    slots, entries = all_slots(cluster.node)
    total = sum(int(e.get("keys", 0)) for e in entries.values())
    assert total == 1, slots
    s2 = cp.slot_of(b"t2", 1024)
    assert int(entries[s2]["keys"]) == 1, entries
