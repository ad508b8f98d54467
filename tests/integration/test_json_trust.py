"""
Scenario: a script reads catena's JSON with a strict parser (duplicate keys
refused, as Go's and Rust's strict decoders and jq --seq users expect) and
with one that keeps numbers as doubles (JavaScript, jq). A node is
written to, then its telemetry digests and catena-udp-bench --json are
read: every key once, the 64-bit digests as decimal strings (exact in a
double-based reader), the request count a number under its own key.
"""

import json
import os
import subprocess

import netns


def strict(text):
    """json.loads that fails on a key given twice in one object."""
    def pairs(items):
        keys = [k for k, _ in items]
        dup = sorted({k for k in keys if keys.count(k) > 1})
        assert not dup, "keys given twice: %s in %s" % (dup, text[:300])
        return dict(items)
    return json.loads(text, object_pairs_hook=pairs)


def test_telemetry_digests_are_decimal_strings(cluster):
    res = cluster.workload({"mode": "fill", "n": 200, "prefix": "dg"})
    assert res["get_ok"] == 200
    d = cluster.node.telemetry("/catena/digest")["/catena/digest"]
    slots = {k: v for k, v in d.items() if k.isdigit()}
    assert slots, d
    for k, e in slots.items():
        assert isinstance(e["digest"], str) and e["digest"].isdigit(), (k, e)
        assert int(e["digest"]) < 2 ** 64
        assert isinstance(e["version"], int), (k, e)
    assert isinstance(d["combined"], str) and d["combined"].isdigit(), d
    # Large digests are the point: some of 200 keys' slots pass 2^53.
    assert any(int(e["digest"]) > 2 ** 53 for e in slots.values()), slots


def test_udp_bench_json_has_each_key_once(cluster, build_dir):
    bench = os.path.join(build_dir, "perf", "catena-udp-bench")
    p = subprocess.run(netns.nsexec(cluster.clients[0]["ns"], bench, "-H",
                                    cluster.node_ip, "-d", "1", "-w", "4",
                                    "-k", "100", "--json"),
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    d = strict(p.stdout)
    assert isinstance(d["requests"], int) and d["requests"] > 0, d
    assert isinstance(d["ops"], dict) and set(d["ops"]) == {"GET", "PUT"}, d
    assert d["ops"]["GET"]["count"] + d["ops"]["PUT"]["count"] == d["requests"]
    assert isinstance(d["ops_per_sec"], float) and d["ops_per_sec"] > 0
    assert d["buckets_us"] and all(len(b) == 2 for b in d["buckets_us"])


def test_kv_bench_json_is_strict_json(build_dir, privileges, tmp_path):
    """catena-kv-bench against memcached inside a namespace of its own
    (loopback only): its --json file, label with a quote and a newline
    in it, parses strictly."""
    ns = "catjs%d" % (os.getpid() % 100000)
    netns.run("ip", "netns", "add", ns)
    mc = None
    try:
        netns.run(*netns.nsexec(ns, "ip", "link", "set", "lo", "up"))
        mc = subprocess.Popen(netns.nsexec(ns, "memcached", "-u", "nobody",
                                           "-l", "127.0.0.1", "-p", "11299"),
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        out = str(tmp_path / "kv.json")
        bench = os.path.join(build_dir, "perf", "catena-kv-bench")
        for _ in range(50):
            p = subprocess.run(netns.nsexec(
                ns, bench, "--proto", "memcache", "--port", "11299",
                "--host", "127.0.0.1", "--duration", "0.5", "--keys", "100",
                "--label", 'a "quoted"\nlabel', "--json", out),
                capture_output=True, text=True, timeout=60)
            if p.returncode != 2:   # 2: memcached not listening yet
                break
            import time
            time.sleep(0.1)
        assert p.returncode == 0, p.stderr
        d = strict(open(out).read())
        assert d["label"] == 'a "quoted"\nlabel', d["label"]
        run = d["runs"][0]
        assert run["completed"] > 0 and isinstance(run["achieved_ops"], float)
        assert set(run["ops"]) == {"GET", "PUT"}, run["ops"]
        assert run["lat_us"]["buckets_us"], run["lat_us"]
    finally:
        if mc is not None:
            mc.kill()
            mc.wait()
        netns.run("ip", "netns", "del", ns, check=False)
