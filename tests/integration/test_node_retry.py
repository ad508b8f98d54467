"""
Scenario: a client whose reply was lost re-sends the identical request
(same client_id and seq). Idempotent ops are harmless to repeat; a
non-idempotent INCR must take effect once: the chain engine's dedup table
answers the retry with the original outcome.
"""


def test_retried_incr_with_the_same_request_id_applies_once(cluster):
    res = cluster.ops([
        {"op": "resend", "times": 2, "msg": {"op": "incr", "key": "once", "arg": 1}},
        {"op": "get", "key": "once"},
    ])
    replies = res[0]["replies"]
    assert len(replies) == 2, "each copy gets a reply: %r" % replies
    final = res[1]["value_text"]
    assert final == "1", ("the re-sent INCR (identical bytes) was applied again: "
                          "counter is %s, replies said %s"
                          % (final, [r["value_text"] for r in replies]))
    assert [r["value_text"] for r in replies] == ["1", "1"], \
        "a duplicate gets the original answer"


def test_retried_put_and_get_with_the_same_request_id_are_harmless(cluster):
    res = cluster.ops([
        {"op": "resend", "times": 3, "msg": {"op": "put", "key": "idem", "value": "v1"}},
        {"op": "resend", "times": 3, "msg": {"op": "get", "key": "idem"}},
    ])
    puts, gets = res[0]["replies"], res[1]["replies"]
    assert len(puts) == 3 and all(r["status_name"] == "OK" for r in puts), puts
    assert len(gets) == 3 and all(r["value_text"] == "v1" for r in gets), gets
