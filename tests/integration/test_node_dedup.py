"""
Scenario: the dedup table remembers exactly as many client writes as
`[replication] dedup` says (docs/PROTOCOL.md, "Retries"). The table was
4-way set-associative: it evicted once any set overflowed, at a quarter of
its size (issue 14: 97 evictions per node after 17 000 writes with dedup =
65536). Filled to 85 % it now evicts nothing; past its size it evicts
exactly the surplus, oldest first.
"""

DEDUP = 4096


def evictions(node):
    return int(node.stats().get("repl_dedup_evictions", -1))


def test_dedup_table_holds_its_configured_capacity(harness):
    harness.setup(clients=1)
    harness.start_node(sets=["replication.dedup=%d" % DEDUP])
    first = 3500
    res = harness.workload({"mode": "fill", "n": first, "prefix": "dd1",
                            "value_size": 8, "window": 8}, timeout=300)
    assert res["statuses"].get("PUT OK") == first, res["statuses"]
    assert evictions(harness.node) == 0, (
        "%d writes in a table of %d evicted %d entries"
        % (first, DEDUP, evictions(harness.node)))
    more = 1000
    res = harness.workload({"mode": "fill", "n": more, "prefix": "dd2",
                            "value_size": 8, "window": 8}, timeout=300)
    assert res["statuses"].get("PUT OK") == more, res["statuses"]
    assert evictions(harness.node) == first + more - DEDUP
