#!/usr/bin/env bash
# What link authentication (issue 13: a cluster secret, SipHash-2-4-128
# link tags on every node-to-node datagram) costs a replicated PUT end to
# end: one chain 1 -> 2 -> 3 under catena-control on a namespace bridge
# (scripts/cluster-lib.sh), 100% PUT of 64-byte values from
# catena-udp-bench in a client namespace, window 1 (latency) and window 16
# (throughput), without and with a secret, alternating ROUNDS times so that
# drift of the machine hits both alike.
#
#   perf/auth_bench.sh [BUILD_DIR] [SECONDS] [ROUNDS]  (root; ./build, 4, 3)
#
# Prints a table of medians over the rounds and writes the raw JSON lines
# to BUILD_DIR/auth_bench.json. On a 2-core VM the nodes and the client
# share the CPUs (backoff idle policy): the ratio is the figure to read.
set -uo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CL_BUILD=$(cd "${1:-$REPO/build}" && pwd)
SECS=${2:-4}
ROUNDS=${3:-3}
CL_P=catauth
CL_TMP=$(mktemp -d /tmp/catena-authbench.XXXXXX)
# shellcheck source=scripts/cluster-lib.sh
. "$REPO/scripts/cluster-lib.sh"
OUT=$CL_BUILD/auth_bench.json
SECRET_FILE=$CL_TMP/cluster.secret

trap 'cl_down; rm -rf "$CL_TMP"' EXIT
trap 'exit 130' INT TERM HUP PIPE

head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$SECRET_FILE"
chmod 600 "$SECRET_FILE"
cat > "$CL_TMP/chain3.map" <<MAP
epoch 1
slots 1024
craq off
node 1 10.99.0.1 02:ca:7e:00:00:01
node 2 10.99.0.2 02:ca:7e:00:00:02
node 3 10.99.0.3 02:ca:7e:00:00:03
chain 1 1 2 3
assign 0-1023 1
MAP

# Every node runs the map catena-control stored (epoch 1 or later).
wait_applied() {
	local i
	for i in $(seq 100); do
		"$CL_BUILD/control/catenactl" -s "$CL_MGMT" --json nodes 2>/dev/null |
			/usr/bin/python3 -c '
import json, sys
n = json.load(sys.stdin)
n = n.get("nodes", n) if isinstance(n, dict) else n
sys.exit(0 if n and all(x.get("epoch", 0) >= 1 and x.get("connected") for x in n) else 1)' && return 0
		sleep 0.1
	done
	echo "auth_bench: the nodes did not apply catena-control's map" >&2
	return 1
}

cl_down
cl_net_up || { echo "auth_bench: cannot create namespaces (root?)" >&2; exit 1; }
: > "$OUT"
for round in $(seq "$ROUNDS"); do
	for mode in none secret; do
		CL_SECRET=
		[ $mode = secret ] && CL_SECRET=$SECRET_FILE
		rm -rf "$CL_TMP/state"
		cl_control_start "$CL_TMP/chain3.map" || { echo "auth_bench: catena-control did not start" >&2; exit 1; }
		cl_start "$CL_TMP/chain3.map" || { echo "auth_bench: nodes did not start" >&2; exit 1; }
		wait_applied || exit 1
		for w in 1 16; do
			echo "round $round, $mode, window $w: ${SECS}s of PUTs..." >&2
			ip netns exec $CL_P-c1 "$CL_BUILD/perf/catena-udp-bench" -H 10.99.0.1 \
				-d "$SECS" -w $w -k 10000 -v 64 -r 0 --json \
				| sed "s/^{/{\"auth\":\"$mode\",\"round\":$round,/" >> "$OUT" \
				|| echo "auth_bench: run failed ($mode, window $w)" >&2
		done
		if [ $mode = secret ]; then
			# The tags were checked: a node that took replication without
			# one would make this comparison meaningless.
			grep -q "data network authentication: siphash-2-4-128 link tags" "$CL_TMP/node2.err" "$CL_TMP/node2.out" 2>/dev/null ||
				echo "auth_bench: WARNING: node 2 did not say its data network is authenticated" >&2
		fi
		cl_stop || echo "auth_bench: a node exited non-zero" >&2
		cl_control_stop || echo "auth_bench: catena-control exited non-zero" >&2
	done
done

/usr/bin/python3 - "$OUT" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
def med(mode, w, f):
    v = [f(r) for r in rows if r["auth"] == mode and r["window"] == w]
    return statistics.median(v) if v else float("nan")
print("chain 3 PUT, 64 B values (median of %d rounds)" % max(r["round"] for r in rows))
print("window  auth     PUT/s     p50 us   p99 us")
for w in (1, 16):
    for mode in ("none", "secret"):
        print(f"{w:>6}  {mode:<6} {med(mode, w, lambda r: r['ops_per_sec']):>8.0f} "
              f"{med(mode, w, lambda r: r['lat_us']['p50']):>9.1f} "
              f"{med(mode, w, lambda r: r['lat_us']['p99']):>8.1f}")
    t0, t1 = med("none", w, lambda r: r["ops_per_sec"]), med("secret", w, lambda r: r["ops_per_sec"])
    p0, p1 = med("none", w, lambda r: r["lat_us"]["p50"]), med("secret", w, lambda r: r["lat_us"]["p50"])
    print(f"        cost of the tags: throughput {100 * (t0 - t1) / t0:+.1f}%, p50 {100 * (p1 - p0) / p0:+.1f}%")
PY
