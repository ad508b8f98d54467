#!/usr/bin/env bash
# Live resharding under load, measured: three catena-nodes and catena-control
# on a namespace bridge (scripts/cluster-lib.sh), one chain 1 2 3 holding
# every slot and a second chain 2 3 1. catena-udp-bench runs a mixed load
# (80% GET, 20% PUT of 100-byte values over 20000 keys, window 8) before,
# during and after `catenactl reshard move --slots 0-511 --to 2`; the move
# takes node 1 out of the moving slots and copies them back to it at the tail
# (state transfer, held to 400 kB/s per worker with `reshard rate` so that
# the copy fills most of the "during" phase), then hands the slots to
# chain 2.
#
#   perf/reshard_bench.sh [BUILD_DIR] [SECONDS]   (root; defaults: ./build, 4)
#
# Prints throughput and latency per phase, how long the move took, and the
# window in which a slot answered reads RETRY (a new tail catching up with
# its predecessor: the hold counters of every node). Raw JSON lines go to
# BUILD_DIR/reshard_bench.json. A 2-core VM whose nodes share cores with the
# client measures that setup, not NIC hardware.
set -uo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CL_BUILD=$(cd "${1:-$REPO/build}" && pwd)
SECS=${2:-4}
CL_P=catrsh
CL_TMP=$(mktemp -d /tmp/catena-reshardbench.XXXXXX)
# shellcheck source=scripts/cluster-lib.sh
. "$REPO/scripts/cluster-lib.sh"
OUT=$CL_BUILD/reshard_bench.json
CTL="$CL_BUILD/control/catenactl"

trap 'cl_down; rm -rf "$CL_TMP"' EXIT
trap 'exit 130' INT TERM HUP PIPE

bench() { # bench PHASE SECONDS [--no-preload]
	ip netns exec $CL_P-c1 "$CL_BUILD/perf/catena-udp-bench" -H 10.99.0.1 \
		-d "$2" -w 8 -k 20000 -v 100 -r 80 --json ${3:-} \
		| sed "s/^{/{\"phase\":\"$1\",/"
}

cl_down
cl_net_up || { echo "reshard_bench: cannot create namespaces (root?)" >&2; exit 1; }
cat > "$CL_TMP/one.map" <<MAP
epoch 1
slots 1024
craq off
node 1 10.99.0.1 02:ca:7e:00:00:01
node 2 10.99.0.2 02:ca:7e:00:00:02
node 3 10.99.0.3 02:ca:7e:00:00:03
chain 1 1 2 3
assign 0-1023 1
MAP
cl_control_start "$CL_TMP/one.map" || { echo "reshard_bench: catena-control did not start" >&2; exit 1; }
cl_start "$CL_TMP/one.map" || { echo "reshard_bench: nodes did not start" >&2; exit 1; }
"$CTL" -s "$CL_MGMT" chain add 2 2 3 1 >/dev/null || exit 1

: > "$OUT"
echo "warm-up: preloading 20000 keys, 2 s of load (not reported)..." >&2
bench warmup 2 > /dev/null || echo "reshard_bench: warm-up failed" >&2
echo "before the move: ${SECS}s..." >&2
bench before "$SECS" --no-preload >> "$OUT" || echo "reshard_bench: run failed (before)" >&2

"$CTL" -s "$CL_MGMT" reshard rate 400000 >/dev/null || exit 1
echo "during the move: ${SECS}s, the move starts after 0.5 s..." >&2
bench during "$SECS" --no-preload >> "$OUT" &
BENCH=$!
sleep 0.5
t0=$(date +%s.%N)
"$CTL" -s "$CL_MGMT" reshard move --slots 0-511 --to 2 >/dev/null || exit 1
for _ in $(seq 600); do
	"$CTL" -s "$CL_MGMT" --json reshard status | grep -q '"moves":\[\]' && break
	sleep 0.05
done
t1=$(date +%s.%N)
wait $BENCH || echo "reshard_bench: run failed (during)" >&2

echo "after the move: ${SECS}s..." >&2
bench after "$SECS" --no-preload >> "$OUT" || echo "reshard_bench: run failed (after)" >&2

for n in $CL_NODES; do
	cl_tel $n /catena/stats > "$CL_TMP/stats$n.json"
done
"$CTL" -s "$CL_MGMT" --json epoch history > "$CL_TMP/history.json"
"$CTL" -s "$CL_MGMT" verify >/dev/null && verified=clean || verified=DIFFERENT
cl_stop || echo "reshard_bench: a node exited non-zero" >&2

/usr/bin/python3 - "$OUT" "$CL_TMP" "$t0" "$t1" "$verified" <<'PY'
import json, sys
out, tmp, t0, t1, verified = sys.argv[1:]
rows = [json.loads(l) for l in open(out) if l.strip()]
print("phase    ops/s      p50 us   p99 us   p99.9 us  retrans  errors")
for r in rows:
    lat = r["lat_us"]
    print(f"{r['phase']:<7} {r['ops_per_sec']:>8.0f}  {lat['p50']:>8.1f} {lat['p99']:>8.1f}"
          f" {lat['p999']:>10.1f} {r['retransmits']:>8} {r['error_replies']:>7}")
holds = []
for n in (1, 2, 3):
    st = json.load(open(f"{tmp}/stats{n}.json"))["/catena/stats"]
    holds.append((n, int(st.get("repl_hold_released", 0)),
                  int(st.get("repl_hold_ns_total", 0)),
                  int(st.get("repl_hold_ns_max", 0)),
                  int(st.get("repl_read_held", 0))))
released = sum(h[1] for h in holds)
total = sum(h[2] for h in holds)
print(f"move of 512 slots (chain 1 2 3 -> 2 3 1): {float(t1) - float(t0):.2f} s "
      f"from the command to `reshard status` empty; replicas after: {verified}")
print(f"RETRY window per slot (reads held at a new tail): {released} slot holds, "
      f"mean {total / released / 1e6 if released else 0:.2f} ms, "
      f"max {max(h[3] for h in holds) / 1e6:.2f} ms; reads answered RETRY: "
      f"{sum(h[4] for h in holds)}")
hist = json.load(open(f"{tmp}/history.json"))
for h in hist["history"][1:]:
    print(f"  epoch {h['epoch']}: {h['reason']}")
print(f"(raw: {out})")
PY
