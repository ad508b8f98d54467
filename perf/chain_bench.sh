#!/usr/bin/env bash
# Replicated PUT throughput and latency for chain length 1, 2 and 3 on this
# machine: three catena-nodes on a namespace bridge (scripts/cluster-lib.sh),
# one chain of the given length over every slot, catena-udp-bench from a
# client namespace, 100% PUT of 64-byte values. Two runs per length: window
# 1 (one request at a time: latency) and window 16 (throughput).
#
#   perf/chain_bench.sh [BUILD_DIR] [SECONDS]      (root; defaults: ./build, 5)
#
# Prints a table and writes the raw JSON lines to BUILD_DIR/chain_bench.json.
# Numbers from a 2-core VM whose nodes share cores with the client under the
# backoff idle policy measure that setup, not NIC hardware.
set -uo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CL_BUILD=$(cd "${1:-$REPO/build}" && pwd)
SECS=${2:-5}
CL_P=catbench
CL_TMP=$(mktemp -d /tmp/catena-chainbench.XXXXXX)
# shellcheck source=scripts/cluster-lib.sh
. "$REPO/scripts/cluster-lib.sh"
OUT=$CL_BUILD/chain_bench.json

trap 'cl_down; rm -rf "$CL_TMP"' EXIT
trap 'exit 130' INT TERM HUP PIPE

cl_down
cl_net_up || { echo "chain_bench: cannot create namespaces (root?)" >&2; exit 1; }
: > "$OUT"
for len in 1 2 3; do
	members=$(seq -s ' ' 1 $len)
	cat > "$CL_TMP/chain$len.map" <<MAP
epoch 1
slots 1024
craq off
node 1 10.99.0.1 02:ca:7e:00:00:01
node 2 10.99.0.2 02:ca:7e:00:00:02
node 3 10.99.0.3 02:ca:7e:00:00:03
chain 1 $members
assign 0-1023 1
MAP
	cl_start "$CL_TMP/chain$len.map" || { echo "chain_bench: nodes did not start" >&2; exit 1; }
	for w in 1 16; do
		echo "chain length $len, window $w: ${SECS}s of PUTs..." >&2
		ip netns exec $CL_P-c1 "$CL_BUILD/perf/catena-udp-bench" -H 10.99.0.1 \
			-d "$SECS" -w $w -k 10000 -v 64 -r 0 --json \
			| sed "s/^{/{\"chain_len\":$len,/" >> "$OUT" \
			|| echo "chain_bench: run failed (chain $len, window $w)" >&2
	done
	cl_stop || echo "chain_bench: a node exited non-zero" >&2
done

/usr/bin/python3 - "$OUT" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
print("chain  window   PUT/s     p50 us   p99 us   p99.9 us  retrans  errors")
for r in rows:
    lat = r["lat_us"]
    print(f"{r['chain_len']:>5}  {r['window']:>6}  {r['ops_per_sec']:>8.0f}  {lat['p50']:>8.1f} "
          f"{lat['p99']:>8.1f} {lat['p999']:>10.1f} {r['retransmits']:>8} {r['error_replies']:>7}")
print(f"(raw: {sys.argv[1]})")
PY
