#!/bin/bash
# perf/peak_get.sh: one catena-node's GET capacity over memif, the part of
# perf/compare.sh's "catena 1 node peak GET" row that issue 15 measures,
# run on its own: one node polling without pause on CPU 0, catena-bench on
# CPU 1, KEYS 16-byte keys with 32-byte values loaded first, then GETs only
# at window 256, BATCH requests per datagram (16 as compare.sh; 1 for the
# one-GET datagrams a node answers in place). Prints catena-bench's
# summary with its capacity line (node requests per busy second, which
# side saturated).
#   sudo perf/peak_get.sh [--build DIR] [--batch N] [--secs S] [--keys N]
# Root (a namespace, hugepages: the node takes 256 MB, the bench 512 MB).
# Reports only; a slow number fails nothing. Never run it beside another
# DPDK run or perf/compare.sh (hugepages, and both CPUs are busy).
set -uo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${CATENA_BUILD:-$REPO/build}
BATCH=16
SECS=3
KEYS=100000
while [ $# -gt 0 ]; do
	case $1 in
	--build) BUILD=${2:?}; shift ;;
	--batch) BATCH=${2:?}; shift ;;
	--secs) SECS=${2:?}; shift ;;
	--keys) KEYS=${2:?}; shift ;;
	*) sed -n '2,14p' "$0" >&2; exit 64 ;;
	esac
	shift
done

NS=catpeak
TMP=$(mktemp -d /tmp/catpeak.XXXXXX)
NODE_PID=
cleanup() {
	[ -n "$NODE_PID" ] && kill "$NODE_PID" 2>/dev/null && wait "$NODE_PID" 2>/dev/null
	ip netns del $NS 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT
ip netns del $NS 2>/dev/null
ip netns add $NS || { echo "peak_get.sh: cannot create namespace $NS" >&2; exit 2; }
ip -n $NS link set lo up

printf 'epoch 1\nslots 1024\ncraq off\nnode 1 10.97.0.1 02:ca:7e:00:00:01\nchain 1 1\nassign 0-1023 1\n' \
	> "$TMP/map"
printf '[node]\nid = 1\nip = 10.97.0.1\nidle = busy\n[cluster]\nmap = %s\n' "$TMP/map" \
	> "$TMP/node.conf"
ip netns exec $NS "$BUILD/dataplane/catena-node" -l 0,1 --main-lcore 1 --no-pci \
	--file-prefix catpeak-n1 --huge-unlink -m 256 --log-level 'lib.*:warning' \
	--vdev "net_memif0,role=server,socket=$TMP/m.sock,socket-abstract=no,mac=02:ca:7e:00:00:01" \
	-- --config "$TMP/node.conf" > "$TMP/node.out" 2> "$TMP/node.err" &
NODE_PID=$!
for _ in $(seq 100); do [ -S "$TMP/m.sock" ] && break; sleep 0.05; done
[ -S "$TMP/m.sock" ] || { echo "peak_get.sh: node did not start" >&2; cat "$TMP/node.err" >&2; exit 1; }

bench() {
	ip netns exec $NS timeout 120 "$BUILD/perf/catena-bench" -l 1 --no-pci \
		--file-prefix catpeak-b --huge-unlink -m 512 --log-level 'lib.*:warning' \
		--vdev "net_memif0,role=client,socket=$TMP/m.sock,socket-abstract=no" \
		-- --ip 10.97.0.100 --map "$TMP/map" --keys "$KEYS" --key-size 16 \
		--value-size 32 --node-telemetry catpeak-n1 "$@" 2> "$TMP/bench.err"
}
# Load the keys (the bench's preload), then the GET-only peak without it.
bench --window 64 --get 50 --put 50 --warmup 0.2 --duration 0.5 --quiet > /dev/null ||
	{ echo "peak_get.sh: catena-bench (load) failed" >&2; tail -5 "$TMP/bench.err" >&2; exit 1; }
bench --window 256 --batch "$BATCH" --get 100 --warmup 0.5 --duration "$SECS" --no-preload --quiet ||
	{ echo "peak_get.sh: catena-bench failed" >&2; tail -5 "$TMP/bench.err" >&2; exit 1; }
