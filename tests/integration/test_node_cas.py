"""
Scenario: the node's request semantics through the raw protocol: versioned
CAS (success, stale failure carrying the current version, 0 = create only
if absent), value CAS, INCR (absent = 0, negative, overflow, not a number),
DEL returning the deleted version, WRONG_SLOT routing, PING.
"""

import catena_proto as cp


def st(r):
    return r["status_name"]


def test_cas_on_version_succeeds_only_against_the_current_version(cluster):
    r = cluster.ops([
        {"op": "put", "key": "cv", "value": "10"},          # 0
        {"op": "get", "key": "cv"},                          # 1
    ])
    v1 = r[0]["arg"]
    assert st(r[0]) == "OK" and v1 > 0
    assert r[1]["arg"] == v1, "GET reply arg = version written by the PUT"
    r = cluster.ops([
        {"op": "cas", "key": "cv", "arg": v1, "value": "20"},      # 0 ok
        {"op": "cas", "key": "cv", "arg": v1, "value": "30"},      # 1 stale
        {"op": "cas", "key": "cv", "arg": v1 + 1000, "value": "40"},  # 2 future
        {"op": "get", "key": "cv"},                                # 3
    ])
    assert st(r[0]) == "OK"
    v2 = r[0]["arg"]
    assert v2 > v1, "CAS reply arg = the new version, above the old one"
    assert st(r[1]) == "CAS_FAILED" and r[1]["arg"] == v2, \
        "CAS_FAILED must carry the current version: %r" % r[1]
    assert st(r[2]) == "CAS_FAILED" and r[2]["arg"] == v2
    assert r[3]["value_text"] == "20" and r[3]["arg"] == v2


def test_cas_with_expected_version_0_creates_only_if_absent(cluster):
    r = cluster.ops([
        {"op": "cas", "key": "c0", "arg": 0, "value": "first"},   # 0 create
        {"op": "cas", "key": "c0", "arg": 0, "value": "second"},  # 1 exists
        {"op": "get", "key": "c0"},                                # 2
        {"op": "del", "key": "c0"},                                # 3
        {"op": "cas", "key": "c0", "arg": 0, "value": "third"},   # 4 absent again
        {"op": "get", "key": "c0"},                                # 5
        {"op": "cas", "key": "c0-never", "arg": 5, "value": "x"},  # 6
    ])
    assert st(r[0]) == "OK"
    assert st(r[1]) == "CAS_FAILED" and r[1]["arg"] == r[0]["arg"], r[1]
    assert r[2]["value_text"] == "first"
    assert st(r[3]) == "OK" and r[3]["arg"] == r[0]["arg"], \
        "DEL reply arg = the deleted version"
    assert st(r[4]) == "OK"
    assert r[5]["value_text"] == "third"
    assert st(r[6]) == "CAS_FAILED" and r[6]["arg"] == 0, \
        "CAS on an absent key with a nonzero version: CAS_FAILED, current version 0"


def test_cas_on_value_compares_the_bytes(cluster):
    r = cluster.ops([
        {"op": "put", "key": "vv", "value": "apple"},
        {"op": "cas", "key": "vv", "expected_value": "apple", "value": "pear"},
        {"op": "cas", "key": "vv", "expected_value": "apple", "value": "plum"},
        {"op": "cas", "key": "vv", "expected_value": "pea", "value": "fig"},
        {"op": "cas", "key": "vv", "expected_value": "pearl", "value": "fig"},
        {"op": "get", "key": "vv"},
        {"op": "cas", "key": "vv", "expected_value": "pear", "value": ""},
        {"op": "get", "key": "vv"},
    ])
    assert st(r[0]) == "OK"
    assert st(r[1]) == "OK" and r[1]["arg"] > r[0]["arg"]
    assert st(r[2]) == "CAS_FAILED" and r[2]["arg"] == r[1]["arg"], r[2]
    assert st(r[3]) == "CAS_FAILED", "a prefix of the value is not the value"
    assert st(r[4]) == "CAS_FAILED", "a longer value is not the value"
    assert r[5]["value_text"] == "pear"
    assert st(r[6]) == "OK", "an empty new value is a value"
    assert st(r[7]) == "OK" and r[7]["value_text"] == ""


def test_value_cas_with_expected_length_past_the_value_is_bad_request(cluster):
    r = cluster.ops([{"op": "cas", "key": "vb", "value": "abc", "arg": 4,
                      "flags": cp.F_CAS_VALUE}])
    assert st(r[0]) == "BAD_REQUEST", r[0]


def test_incr_semantics(cluster):
    big = str((1 << 63) - 1)
    r = cluster.ops([
        {"op": "incr", "key": "n", "arg": 1},                  # absent = 0
        {"op": "incr", "key": "n", "arg": -5},
        {"op": "put", "key": "max", "value": big},
        {"op": "incr", "key": "max", "arg": 1},
        {"op": "get", "key": "max"},
        {"op": "put", "key": "word", "value": "12abc"},
        {"op": "incr", "key": "word", "arg": 1},
        {"op": "put", "key": "neg", "value": "-40"},
        {"op": "incr", "key": "neg", "arg": 2},
    ])
    assert st(r[0]) == "OK" and r[0]["value_text"] == "1"
    assert st(r[1]) == "OK" and r[1]["value_text"] == "-4"
    assert r[1]["arg"] > r[0]["arg"], "INCR reply arg = new version"
    assert st(r[3]) == "OVERFLOW", r[3]
    assert r[4]["value_text"] == big, "an overflowing INCR must not change the value"
    assert st(r[6]) == "NOT_A_NUMBER", r[6]
    assert st(r[8]) == "OK" and r[8]["value_text"] == "-38"


def test_request_for_the_wrong_slot_is_refused_with_the_slot_count(cluster):
    key = b"slotted"
    right = cp.slot_of(key, 1024)
    r = cluster.ops([
        {"op": "put", "key": "slotted", "value": "x", "slot": (right + 1) % 1024},
        {"op": "get", "key": "slotted", "slot": right + 1024},
        {"op": "get", "key": "slotted"},
    ])
    assert st(r[0]) == "WRONG_SLOT" and r[0]["arg"] == 1024, r[0]
    assert st(r[1]) == "WRONG_SLOT", "slot field past slot_count"
    assert st(r[2]) == "NOT_FOUND", "a WRONG_SLOT write must not be applied"


def test_ping_and_reply_header_fields(cluster):
    r = cluster.ops([{"op": "ping"}, {"op": "put", "key": "hdr", "value": "v"}],
                    client_id=0x1234ABCD)
    for m in r:
        assert m["client_id"] == 0x1234ABCD
        assert m["flags"] & cp.F_REPLY
        assert m["epoch"] == 1
    assert st(r[0]) == "OK" and r[0]["arg"] == 1024
    assert r[1]["slot"] == cp.slot_of(b"hdr", 1024), "reply echoes the slot"
