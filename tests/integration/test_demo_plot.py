"""
Scenario: a newcomer runs scripts/demo.sh (the README's first command). It
starts catena-control and three nodes, runs its benchmark and ends by
drawing that benchmark's latency -- the distribution with its percentiles
marked (perf/plot.sh latency) -- into a PNG whose path it prints. The test
runs the demo for 2 s with its output directory under tmp_path and checks
the plot is there, named, and a real PNG; and, without a cluster, that
plot.sh latency draws a catena-udp-bench JSON and refuses one without a
histogram.
"""

import json
import os
import shutil
import subprocess

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
PNG = b"\x89PNG\r\n\x1a\n"


def need_gnuplot():
    if shutil.which("gnuplot") is None:
        pytest.fail("gnuplot not installed (scripts/setup.sh installs "
                    "gnuplot-nox)", pytrace=False)


def test_plot_latency_draws_a_udp_bench_run_and_refuses_no_histogram(
        tmp_path):
    need_gnuplot()
    # catena-udp-bench --json as it is: "ops" twice (a count, then per op).
    bench = tmp_path / "bench.json"
    bench.write_text(
        '{"seconds":1.0,"ops":600,"ops_per_sec":600.0,'
        '"lat_us":{"p50":90.0,"p90":200.0,"p99":700.0,"p999":1500.0,'
        '"max":1800.0},"ops":{"GET":{"count":480},"PUT":{"count":120}},'
        '"buckets_us":[[64,100],[128,300],[256,150],[1024,45],[2048,5]]}')
    out = tmp_path / "l.svg"
    p = subprocess.run(["bash", os.path.join(REPO, "perf", "plot.sh"),
                        "latency", str(out), str(bench)],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    svg = out.read_text()
    for label in ("p50 90 us", "p99.9 1500 us", "latency of 600 operations"):
        assert label in svg, label

    empty = tmp_path / "empty.json"
    empty.write_text(json.dumps({"lat_us": {"p50": 1}}))
    p = subprocess.run(["bash", os.path.join(REPO, "perf", "plot.sh"),
                        "latency", str(tmp_path / "x.png"), str(empty)],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode != 0 and "no histogram buckets" in p.stderr, p.stderr


def test_demo_ends_with_a_latency_plot_it_names(build_dir, privileges,
                                               hugepages, tmp_path):
    need_gnuplot()
    out = tmp_path / "demo"
    env = dict(os.environ, CATENA_BUILD=build_dir, CATENA_DEMO_OUT=str(out))
    p = subprocess.run(["bash", os.path.join(REPO, "scripts", "demo.sh"), "2"],
                       capture_output=True, text=True, timeout=300, env=env)
    log = p.stdout[-4000:] + p.stderr[-2000:]
    assert p.returncode == 0, log
    png = out / "latency.png"
    assert ("latency plot: %s" % png) in p.stdout, log
    assert png.stat().st_size > 1000, log
    assert png.read_bytes()[:8] == PNG, log
    bench = json.loads((out / "bench.json").read_text())
    assert sum(c for _, c in bench["buckets_us"]) > 0, bench
    assert "latency (us): p50" in p.stdout, log


def test_plot_compare_labels_keep_the_spaces_of_system_names(tmp_path):
    need_gnuplot()
    dist = tmp_path / "dist.json"
    dist.write_text(json.dumps({"label": "redis 7 (kernel TCP)",
                                "buckets_us": [[50, 10], [100, 5]]}))
    rows = [{"system": "catena memif chain 3",
             "GET": {"p50": 10, "p99": 20, "p999": 30},
             "PUT": {"p50": 15, "p99": 25, "p999": 35}},
            {"system": "redis 7 (kernel TCP)", "json": str(dist),
             "GET": {"p50": 40, "p99": 60, "p999": 80},
             "PUT": {"p50": 45, "p99": 65, "p999": 85}}]
    cj = tmp_path / "compare.json"
    cj.write_text(json.dumps({"rows": rows}))
    p = subprocess.run(["bash", os.path.join(REPO, "perf", "plot.sh"),
                        "compare", str(cj), str(tmp_path / "out"), "svg"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    bars = (tmp_path / "out" / "compare-latency.svg").read_text()
    assert "catena memif chain 3" in bars and "catena_memif" not in bars, (
        bars[:3000])
    assert "redis 7 (kernel TCP)" in (
        tmp_path / "out" / "compare-dist.svg").read_text()
