"""
Scenario: bulk traffic from a kernel UDP client. Ten thousand keys go in
batched datagrams (several messages per packet) with a few datagrams in
flight, and every one reads back exactly. Batching itself is checked on its
own: one datagram carrying mixed requests gets one reply per message, in
request order for one worker, and replies too big for one datagram arrive
split over several.
"""

import catena_proto as cp


def test_ten_thousand_keys_written_and_read_back_exactly(cluster):
    res = cluster.workload({"mode": "fill", "n": 10000, "prefix": "bulk",
                            "value_size": 24, "window": 8}, timeout=300)
    assert res["statuses"] == {"PUT OK": 10000, "GET OK": 10000}, res["statuses"]
    assert res["get_ok"] == 10000, res["mismatches"]
    assert res["mismatches"] == []
    print("10k keys: put %.2fs get %.2fs, %d datagrams re-sent"
          % (res["put_seconds"], res["get_seconds"], res["resends"]))
    stats = cluster.node.stats()
    assert int(stats.get("requests_put", 0)) >= 10000, stats
    assert int(stats.get("requests_get", 0)) >= 10000, stats


def test_one_datagram_of_mixed_requests_gets_one_reply_per_message(cluster):
    msgs = [
        {"op": "put", "key": "m-a", "value": "A"},
        {"op": "put", "key": "m-b", "value": "B"},
        {"op": "get", "key": "m-a"},
        {"op": "incr", "key": "m-n", "arg": 7},
        {"op": "get", "key": "m-missing"},
        {"op": "del", "key": "m-b"},
        {"op": "get", "key": "m-b"},
        {"op": "ping"},
        {"op": 0x33, "key": "m-a"},
    ]
    res = cluster.ops([{"op": "packet", "msgs": msgs}])[0]
    replies = res["replies"]
    assert None not in replies, "unanswered messages in a batch: %s" % [
        msgs[i] for i, r in enumerate(replies) if r is None]
    assert not res["undecodable"] and not res["extra"], res
    got = [(r["op"], r["status_name"]) for r in replies]
    assert got == [(cp.OP_PUT, "OK"), (cp.OP_PUT, "OK"),
                   (cp.OP_GET, "OK"), (cp.OP_INCR, "OK"),
                   (cp.OP_GET, "NOT_FOUND"), (cp.OP_DEL, "OK"),
                   (cp.OP_GET, "NOT_FOUND"), (cp.OP_PING, "OK"),
                   (0x33, "UNKNOWN_OP")], got
    assert replies[2]["value_text"] == "A", "GET after PUT in the same datagram"
    assert replies[3]["value_text"] == "7"
    assert replies[7]["arg"] == 1024, "PING reply arg = slot count"
    for r in replies:
        assert r["flags"] & cp.F_REPLY
        assert r["epoch"] == 1, "a node without a map serves a one-node map at epoch 1"
    print("9 messages in one %d-byte datagram, replies in %d datagram(s)"
          % (res["bytes"], res["datagrams"]))


def test_replies_too_big_for_one_datagram_arrive_split(cluster):
    # Five 400-byte values: the GET replies (about 2.2 kB) cannot share one
    # 1472-byte payload, the requests (about 250 bytes) can.
    ops = [{"op": "put", "key": "big-%d" % i,
            "value": {"repeat": "%d" % i, "n": 400}} for i in range(5)]
    ops.append({"op": "packet", "msgs": [{"op": "get", "key": "big-%d" % i}
                                         for i in range(5)]})
    res = cluster.ops(ops)
    for r in res[:5]:
        assert r["status_name"] == "OK", r
    pkt = res[5]
    assert None not in pkt["replies"], pkt
    for i, r in enumerate(pkt["replies"]):
        assert r["status_name"] == "OK" and r["value_text"] == str(i) * 400
    assert pkt["datagrams"] >= 2


def test_value_exactly_at_the_mtu_limit_round_trips(cluster):
    key = "edge-key"
    vmax = cp.value_max(1500, len(key))
    res = cluster.ops([{"op": "put", "key": key, "value": {"repeat": "z", "n": vmax}},
                       {"op": "get", "key": key}])
    assert res[0]["status_name"] == "OK", res[0]
    assert res[1]["status_name"] == "OK"
    assert res[1]["value_text"] == "z" * vmax


def test_many_small_batches_in_flight(cluster):
    # 8 messages per datagram, 32 datagrams in flight: the node's rx burst
    # sees several full datagrams at once.
    res = cluster.workload({"mode": "fill", "n": 2000, "prefix": "win",
                            "per_packet": 8, "window": 32})
    assert res["get_ok"] == 2000, res


def test_a_lone_get_is_answered_in_its_own_datagram(cluster):
    # A datagram holding one GET and nothing else is answered by rewriting
    # that datagram's mbuf (issue 15 item 3): a hit, a miss and a value
    # near the MTU limit, each read back exactly by the kernel client,
    # which drops a datagram whose UDP checksum is wrong.
    vmax = cp.value_max(1500, len("lone-big"))
    res = cluster.ops([{"op": "put", "key": "lone-a", "value": "alpha"},
                       {"op": "put", "key": "lone-big",
                        "value": {"repeat": "q", "n": vmax}}])
    assert [r["status_name"] for r in res] == ["OK", "OK"], res
    before = cluster.node.stats()
    res = cluster.ops([{"op": "get", "key": "lone-a"},
                       {"op": "get", "key": "lone-missing"},
                       {"op": "get", "key": "lone-big"},
                       {"op": "get", "key": "lone-a"}])
    after = cluster.node.stats()
    got = [(r["status_name"], r.get("value_text") or None) for r in res]
    assert got == [("OK", "alpha"), ("NOT_FOUND", None),
                   ("OK", "q" * vmax), ("OK", "alpha")], got
    assert cluster.node.delta(before, after, "replies_in_place") == 4, \
        (before.get("replies_in_place"), after.get("replies_in_place"))
    # Requests batched in one datagram still get a packet of their own.
    res = cluster.ops([{"op": "packet", "msgs": [{"op": "get", "key": "lone-a"},
                                                 {"op": "get", "key": "lone-a"}]}])
    assert [r["value_text"] for r in res[0]["replies"]] == ["alpha", "alpha"]
    assert cluster.node.delta(after, cluster.node.stats(), "replies_in_place") == 0
