#!/bin/sh
# Run the microbenchmarks and print a compact table.
#   perf/run_micro.sh BUILD_DIR [RESULTS_JSON] [-- extra benchmark flags]
# Builds nothing: BUILD_DIR must hold perf/catena-bench-micro (meson builds
# it when libbenchmark is installed). Writes Google Benchmark's JSON to
# RESULTS_JSON (default BUILD_DIR/perf/micro-results.json), then prints
# name, ns/op, Mops/s and, for the store, catena's time per operation (per
# key for bulk lookups) beside rte_hash's, lock-free rte_hash's and the old
# cds_lfht store's (lfht_ref), with catena over rte_hash and over lfht_ref
# (below 1.00: catena faster). Reports only; never fails on a
# slow number. About a minute on 2 cores. The store tables hold 1 Mi keys;
# `-- --store_keys=10000000` measures 10 M (about 4 GB and several minutes:
# not for CI).
set -eu

usage() { echo "usage: $0 BUILD_DIR [RESULTS_JSON] [-- BENCHMARK_FLAGS...]" >&2; exit 64; }

[ $# -ge 1 ] || usage
build=$1; shift
out=$build/perf/micro-results.json
if [ $# -ge 1 ] && [ "$1" != "--" ]; then out=$1; shift; fi
if [ $# -ge 1 ]; then [ "$1" = "--" ] || usage; shift; fi

bin=$build/perf/catena-bench-micro
if [ ! -x "$bin" ]; then
	echo "$0: $bin not found (is libbenchmark-dev installed? run ninja -C $build)" >&2
	exit 1
fi

# Wire and hash benches are a few ns each: 0.2 s apiece is plenty; the store
# benches set their own time (0.5 s) or iteration count in the binary.
set +e
"$bin" --benchmark_format=json --benchmark_out="$out" \
	--benchmark_out_format=json --benchmark_min_time=0.2 "$@" >/dev/null
rc=$?
set -e
# The bench's EAL runs with --no-huge; it leaves only its runtime dir.
rm -rf /var/run/dpdk/catbench[0-9]* 2>/dev/null || true
if [ $rc -ne 0 ]; then
	echo "$0: catena-bench-micro exited with status $rc" >&2
	exit $rc
fi

/usr/bin/python3 - "$out" <<'EOF'
import json, sys

with open(sys.argv[1]) as f:
    doc = json.load(f)
ctx = doc.get("context", {})
print("# %s, %s CPUs @ %s MHz, %s" % (ctx.get("host_name", "?"),
      ctx.get("num_cpus", "?"), ctx.get("mhz_per_cpu", "?"), ctx.get("date", "")))
scale = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}
rows = {}
order = []
print("%-34s %10s %10s" % ("benchmark", "ns/op", "Mops/s"))
for b in doc["benchmarks"]:
    if b.get("run_type") == "aggregate" and b.get("aggregate_name") != "median":
        continue
    # Drop the run options Google Benchmark appends ("/min_time:0.500").
    name = "/".join(c for c in b.get("run_name", b["name"]).split("/")
                    if not c.startswith(("min_time:", "iterations:", "repeats:")))
    if b.get("error_occurred"):
        print("%-34s ERROR: %s" % (name, b.get("error_message", "")))
        continue
    ips = b.get("items_per_second")
    # Per item when the bench counts items (a batch of 16 counts 16).
    ns = 1e9 / ips if ips else b["real_time"] * scale[b.get("time_unit", "ns")]
    mops = ips / 1e6 if ips else 1e3 / ns
    rows[name] = ns
    order.append(name)
    print("%-34s %10.1f %10.2f" % (name, ns, mops))

ops = []
for name in order:
    p = name.split("/")
    if len(p) == 3 and p[0] == "store" and p[2] == "catena" and p[1] not in ops:
        ops.append(p[1])
def ref(op, impl):
    # A burst row has no rte_hash row of its own: the plain op's stands in.
    return rows.get("store/%s/%s" % (op, impl)) or \
        rows.get("store/%s/%s" % (op.replace("_burst", ""), impl))
if ops:
    print()
    print("%-18s %10s %10s %10s %10s %9s %9s" % ("store op", "catena", "rte_hash",
          "rte_lf", "lfht_ref", "/rte_hash", "/lfht_ref"))
    for op in ops:
        c = rows.get("store/%s/catena" % op)
        r, lf, old = ref(op, "rte_hash"), ref(op, "rte_hash_lf"), ref(op, "lfht_ref")
        fmt = lambda x: "%10.1f" % x if x else "%10s" % "-"
        print("%-18s %s %s %s %s %9s %9s" % (op, fmt(c), fmt(r), fmt(lf), fmt(old),
              "%.2f" % (c / r) if c and r else "-",
              "%.2f" % (c / old) if c and old else "-"))
print()
print("results: %s" % sys.argv[1])
EOF
