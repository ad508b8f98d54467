"""
Scenario: catena-control's Prometheus endpoint ([control] metrics_listen,
docs/OPERATIONS.md "Metrics") on a three-node cluster. catena-control runs
in a network namespace of the test's own, listening on that namespace's
loopback; Debian's real `prometheus` server runs beside it, scrapes it
every second, and the test queries prometheus's HTTP API for a counter it
moved with client requests. The exposition itself passes `promtool check
metrics`, says what the cluster is (nodes up, the epoch, chains), shows a
killed node as failed and its chains as short, and answers only GET
/metrics. The alert rules shipped in config/prometheus pass `promtool
check rules` and their own `promtool test rules` cases. A port that is
taken stops catena-control at start with the key's name.
"""

import json
import os
import shutil
import subprocess
import time

import pytest

import netns
from cluster import THREE_CHAINS

PYTHON = "/usr/bin/python3"
HERE = os.path.dirname(os.path.abspath(__file__))
RULES_DIR = os.path.join(HERE, "..", "..", "config", "prometheus")
PORT = 9470
PROM_PORT = 9090

# Fetch a URL from inside the namespace: (status, body) as JSON on stdout.
FETCH = r"""
import json, sys, urllib.request, urllib.error
req = urllib.request.Request(sys.argv[1], method=sys.argv[2])
try:
    with urllib.request.urlopen(req, timeout=5) as r:
        out = (r.status, r.read().decode(), r.headers.get("Content-Type"))
except urllib.error.HTTPError as e:
    out = (e.code, e.read().decode(), e.headers.get("Content-Type"))
print(json.dumps(out))
"""


@pytest.fixture
def metrics_ns():
    """A namespace with only its loopback up; deleted after the test (and
    after the cluster fixture's teardown, which stops catena-control)."""
    name = netns.pick_base(netns.pid_tag() + "mx") + "-m"
    netns.run("ip", "netns", "add", name)
    try:
        netns.run("ip", "-n", name, "link", "set", "lo", "up")
        yield name
    finally:
        netns.run("ip", "netns", "del", name, check=False)


def fetch(ns, path, method="GET", port=PORT):
    p = subprocess.run(
        netns.nsexec(ns, PYTHON, "-c", FETCH,
                     "http://127.0.0.1:%d%s" % (port, path), method),
        capture_output=True, text=True, timeout=30)
    if p.returncode != 0:
        return None
    return json.loads(p.stdout)


def samples(text):
    """{(name, frozenset(labels)): value} of an exposition."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        head, value = line.rsplit(" ", 1)
        name, _, labels = head.partition("{")
        lab = frozenset(tuple(kv.split("=", 1)) for kv in
                        labels.rstrip("}").split(",") if kv)
        out[(name, lab)] = float(value)
    return out


def value(s, name, **labels):
    want = frozenset((k, '"%s"' % v) for k, v in labels.items())
    return s.get((name, want))


def scrape(ns):
    st, body, ctype = fetch(ns, "/metrics")
    assert st == 200, (st, body)
    assert ctype.startswith("text/plain; version=0.0.4"), ctype
    return body


def start(make_control_cluster, ns, extra=""):
    return make_control_cluster(
        chains=THREE_CHAINS, clients=1,
        control_wrap=("ip", "netns", "exec", ns),
        control_conf="metrics_listen = 127.0.0.1:%d\n%s" % (PORT, extra))


def test_metrics_say_what_the_cluster_is(metrics_ns, make_control_cluster):
    c = start(make_control_cluster, metrics_ns)
    ready = c.ctl.ready
    assert ready["metrics"] == "http://127.0.0.1:%d/metrics" % PORT, ready
    c.ctl.wait_for("every node's heartbeat in the metrics", lambda: (
        value(samples(scrape(metrics_ns)), "catena_node_requests_total",
              node=3) is not None), timeout=10)
    body = scrape(metrics_ns)
    lint = subprocess.run(["promtool", "check", "metrics"], input=body,
                          capture_output=True, text=True, timeout=30)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    s = samples(body)
    status = c.ctl.result("status")
    assert value(s, "catena_epoch") == status["epoch"]
    assert value(s, "catena_nodes", state="up") == 3
    assert value(s, "catena_nodes", state="failed") == 0
    assert value(s, "catena_chains") == 3
    assert value(s, "catena_chains_short") == 0
    assert value(s, "catena_chains_unavailable") == 0
    assert value(s, "catena_replication_factor") == 3
    for n in (1, 2, 3):
        assert value(s, "catena_node_up", node=n) == 1
        assert value(s, "catena_node_link_up", node=n) == 1
        assert value(s, "catena_node_mtu", node=n) > 0
        assert value(s, "catena_node_store_keys", node=n) is not None
    assert "# TYPE catena_node_requests_total counter" in body
    assert "# TYPE catena_node_store_keys gauge" in body
    assert value(s, "catena_control_connections", listener="node") == 3
    # Only GET (and HEAD) of /metrics.
    assert fetch(metrics_ns, "/")[0] == 404
    assert fetch(metrics_ns, "/metrics", "POST")[0] == 405

    # A node killed: failed, and its chains short (no spare to restore).
    c.kill9(3)
    c.ctl.wait_for("node 3 failed in the metrics", lambda: value(
        samples(scrape(metrics_ns)), "catena_nodes", state="failed") == 1,
        timeout=10)
    s = samples(scrape(metrics_ns))
    assert value(s, "catena_node_up", node=3) == 0
    assert value(s, "catena_chains_short") == 3
    assert value(s, "catena_epoch") == c.ctl.result("status")["epoch"]


def test_prometheus_scrapes_a_counter_the_test_moved(metrics_ns, tmp_path,
                                                     make_control_cluster):
    prom = shutil.which("prometheus")
    assert prom, "Debian's prometheus is not installed (scripts/setup.sh)"
    c = start(make_control_cluster, metrics_ns)
    conf = tmp_path / "prometheus.yml"
    conf.write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        "rule_files:\n  - %s\n"
        "scrape_configs:\n  - job_name: catena\n    static_configs:\n"
        "      - targets: ['127.0.0.1:%d']\n"
        % (os.path.abspath(os.path.join(RULES_DIR, "catena-alerts.yml")), PORT))
    log = open(tmp_path / "prometheus.log", "w")
    p = subprocess.Popen(
        netns.nsexec(metrics_ns, prom, "--config.file=%s" % conf,
                     "--storage.tsdb.path=%s" % (tmp_path / "tsdb"),
                     "--web.listen-address=127.0.0.1:%d" % PROM_PORT),
        stdout=log, stderr=subprocess.STDOUT)
    try:
        def query(q):
            import urllib.parse
            r = fetch(metrics_ns, "/api/v1/query?query=" +
                      urllib.parse.quote(q), port=PROM_PORT)
            if r is None or r[0] != 200:
                return None
            res = json.loads(r[1])["data"]["result"]
            return float(res[0]["value"][1]) if res else None

        c.ctl.wait_for("prometheus to scrape catena-control", lambda:
                       query('up{job="catena"}') == 1 and
                       query("sum(catena_node_requests_total)") is not None,
                       timeout=60, period=0.5)
        before = query("sum(catena_node_requests_total)")
        n = 60
        res = c.ops([{"op": "put", "key": "m-%d" % i, "value": "v"}
                     for i in range(n)])
        assert all(r["status_name"] == "OK" for r in res["results"]), res
        c.ctl.wait_for("prometheus to see the %d requests" % n, lambda:
                       (query("sum(catena_node_requests_total)") or 0) >=
                       before + n, timeout=30, period=0.5)
        assert query('catena_nodes{state="up"}') == 3
        # The shipped rules load in a real server, and none fires on a
        # healthy cluster.
        r = fetch(metrics_ns, "/api/v1/rules", port=PROM_PORT)
        groups = json.loads(r[1])["data"]["groups"]
        names = {rule["name"] for g in groups for rule in g["rules"]}
        assert "CatenaNodeDown" in names and "CatenaControlDown" in names
        firing = [rule["name"] for g in groups for rule in g["rules"]
                  if rule.get("state") == "firing"]
        assert firing == [], firing
    finally:
        p.terminate()
        try:
            p.wait(20)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        log.close()


def test_shipped_alert_rules_check_and_pass_their_tests():
    rules = os.path.join(RULES_DIR, "catena-alerts.yml")
    p = subprocess.run(["promtool", "check", "rules", rules],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr
    p = subprocess.run(["promtool", "test", "rules", "catena-alerts.test.yml"],
                       cwd=RULES_DIR, capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "SUCCESS" in p.stdout


def test_a_taken_port_stops_catena_control_with_its_name(
        metrics_ns, tmp_path, control_binaries):
    import control as control_mod
    holder = subprocess.Popen(netns.nsexec(
        metrics_ns, PYTHON, "-c",
        "import socket, time\n"
        "s = socket.socket(); s.bind(('127.0.0.1', %d)); s.listen(1)\n"
        "print('held', flush=True); time.sleep(60)\n" % PORT),
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        ctl = control_mod.Control(control_binaries, tmp_path,
                                  extra_conf="metrics_listen = 127.0.0.1:%d\n"
                                  % PORT,
                                  wrap=("ip", "netns", "exec", metrics_ns))
        map_path = tmp_path / "one.map"
        map_path.write_text(
            "epoch 1\nslots 8\ncraq off\nnode 1 10.99.0.1 02:ca:7e:00:00:01\n"
            "chain 1 1\nassign all roundrobin\n")
        with pytest.raises(control_mod.ControlError) as e:
            ctl.start(initial_map=str(map_path))
        assert "metrics_listen 127.0.0.1:%d: cannot listen" % PORT in \
            str(e.value), str(e.value)
        assert ctl.proc.wait(10) == 1
        ctl.proc = None
        ctl.out_f.close()
        ctl.err_f.close()
    finally:
        holder.kill()
        holder.wait()


def test_a_bad_metrics_listen_is_a_config_error(tmp_path, control_binaries):
    conf = tmp_path / "c.conf"
    conf.write_text("[control]\nmetrics_listen = localhost:9470\n")
    p = subprocess.run([control_binaries["control"], "--config", str(conf)],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 2, (p.returncode, p.stderr)
    assert "line 2: [control] metrics_listen: expected IPV4:PORT or off" \
        in p.stderr, p.stderr
