"""
Scenario: an operator uses catena-cli from a client namespace against one
node. Each command round-trips, prints what interfaces.md promises, and
exits 0 OK / 1 NOT_FOUND / 2 CAS_FAILED / 3 other node status /
4 no reply / 64 usage.
"""

import json
import re


def ok(r):
    assert r.returncode == 0, "exit %d\nstdout: %s\nstderr: %s" % (
        r.returncode, r.stdout, r.stderr)
    return r.stdout


def put_version(r):
    m = re.fullmatch(r"OK version=(\d+)\n", ok(r))
    assert m, "put printed %r" % r.stdout
    return int(m.group(1))


def test_put_get_del_round_trip_with_cli(cluster):
    v1 = put_version(cluster.cli("put", "alpha", "one"))
    assert ok(cluster.cli("get", "alpha")) == "one\n"
    v2 = put_version(cluster.cli("put", "alpha", "two words"))
    assert v2 > v1, "a PUT over an existing key must bump its version"
    assert ok(cluster.cli("get", "alpha")) == "two words\n"
    ok(cluster.cli("del", "alpha"))
    r = cluster.cli("get", "alpha")
    assert r.returncode == 1, "GET after DEL: want exit 1 (NOT_FOUND), got %d %r %r" % (
        r.returncode, r.stdout, r.stderr)
    r = cluster.cli("del", "alpha")
    assert r.returncode == 1, "DEL of an absent key: want exit 1, got %d" % r.returncode


def test_get_of_a_key_never_written_exits_1(cluster):
    r = cluster.cli("get", "never-written")
    assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)


def test_incr_counts_up_and_down_and_rejects_non_numbers_with_exit_3(cluster):
    assert ok(cluster.cli("incr", "ctr")) == "1\n"
    assert ok(cluster.cli("incr", "ctr", "41")) == "42\n"
    assert ok(cluster.cli("incr", "ctr", "-50")) == "-8\n"
    assert ok(cluster.cli("get", "ctr")) == "-8\n"
    put_version(cluster.cli("put", "text", "hello"))
    r = cluster.cli("incr", "text")
    assert r.returncode == 3, "INCR of 'hello': want exit 3, got %d %r %r" % (
        r.returncode, r.stdout, r.stderr)
    assert "NOT_A_NUMBER" in r.stderr
    assert ok(cluster.cli("get", "text")) == "hello\n", "a failed INCR must not change the value"


def test_cas_exit_codes_version_and_value(cluster):
    # 0 = only if absent
    v1 = put_version(cluster.cli("cas", "acct", "0", "100"))
    r = cluster.cli("cas", "acct", "0", "999")
    assert r.returncode == 2, "CAS-create over an existing key: want exit 2, got %d %r %r" % (
        r.returncode, r.stdout, r.stderr)
    v2 = put_version(cluster.cli("cas", "acct", str(v1), "90"))
    assert v2 > v1
    r = cluster.cli("cas", "acct", str(v1), "80")
    assert r.returncode == 2, "CAS on a stale version must fail with exit 2"
    assert ok(cluster.cli("get", "acct")) == "90\n"
    put_version(cluster.cli("cas", "--value", "acct", "90", "70"))
    r = cluster.cli("cas", "--value", "acct", "90", "60")
    assert r.returncode == 2, "value CAS with a stale value must exit 2"
    assert ok(cluster.cli("get", "acct")) == "70\n"


def test_json_output_parses_for_every_command(cluster):
    j = json.loads(ok(cluster.cli("--json", "put", "jk", "jv")))
    assert j["status"] == "OK" and j["op"] == "PUT", j
    j = json.loads(ok(cluster.cli("--json", "get", "jk")))
    assert j["op"] == "GET" and j["status"] == "OK" and j["key"] == "jk"
    assert j["value"] == "jv" and isinstance(j["version"], int) and j["version"] > 0
    j = json.loads(ok(cluster.cli("--json", "incr", "jn", "5")))
    assert j["op"] == "INCR" and j["status"] == "OK", j
    r = cluster.cli("--json", "cas", "jk", "0", "x")
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    j = json.loads(r.stdout)
    assert j["op"] == "CAS" and j["status"] == "CAS_FAILED", j
    j = json.loads(ok(cluster.cli("--json", "del", "jk")))
    assert j["op"] == "DEL" and j["status"] == "OK", j
    r = cluster.cli("--json", "get", "jk")
    assert r.returncode == 1
    j = json.loads(r.stdout)
    assert j["op"] == "GET" and j["status"] == "NOT_FOUND", j
    j = json.loads(ok(cluster.cli("--json", "ping")))
    assert j["status"] == "OK", j


def test_ping_reports_slot_count_and_epoch(cluster):
    assert ok(cluster.cli("ping")) == "OK slots=1024 epoch=1\n"


def test_unanswered_request_times_out_with_exit_4(cluster):
    # Nothing listens on 7471: the node drops it, so no reply ever comes.
    r = cluster.cli("-p", "7471", "-t", "50", "-r", "1", "get", "k", timeout=20)
    assert r.returncode == 4, (r.returncode, r.stdout, r.stderr)


def test_usage_errors_exit_64(cluster):
    r = cluster.cli()
    assert r.returncode == 64, (r.returncode, r.stderr)
    r = cluster.cli("frobnicate", "k")
    assert r.returncode == 64, (r.returncode, r.stderr)
    r = cluster.cli("put", "only-a-key")
    assert r.returncode == 64, (r.returncode, r.stderr)
