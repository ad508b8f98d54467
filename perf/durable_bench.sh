#!/usr/bin/env bash
# What persistence costs: PUT latency and throughput of one catena node with
# `durability = none`, `log` + `fsync = every_ms 10` and `log` + `fsync =
# always`, beside Redis with `appendfsync everysec` and `always`, on the
# same machine and disk, one after the other. PUT only, 16-byte keys,
# 32-byte values; one request outstanding (latency) and 32 (throughput).
#
#   perf/durable_bench.sh [--seconds S] [--build DIR] [--dir DIR]
#
# Root (a network namespace and hugepages). --dir: where the logs and the
# AOF go (default a fresh directory under /var/tmp: a disk, not tmpfs; the
# numbers are that disk's). catena-bench and the node talk over net_memif;
# Redis and catena-kv-bench over loopback TCP in another namespace. The
# node (worker, agent and log writer) and Redis on CPU 0, the clients on
# CPU 1.
set -uo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${CATENA_BUILD:-$REPO/build}
SECS=3
DIR=
while [ $# -gt 0 ]; do
	case "$1" in
	--seconds) SECS=${2:?}; shift ;;
	--build) BUILD=${2:?}; shift ;;
	--dir) DIR=${2:?}; shift ;;
	-h|--help) sed -n '2,14p' "$0"; exit 0 ;;
	*) echo "durable_bench.sh: unknown option: $1" >&2; exit 64 ;;
	esac
	shift
done
[ "$(id -u)" = 0 ] || { echo "durable_bench.sh: must run as root" >&2; exit 2; }
for b in dataplane/catena-node perf/catena-bench perf/catena-kv-bench; do
	[ -x "$BUILD/$b" ] || { echo "durable_bench.sh: $BUILD/$b not built" >&2; exit 2; }
done
command -v redis-server >/dev/null || { echo "durable_bench.sh: redis-server missing (scripts/setup.sh)" >&2; exit 2; }
DIR=${DIR:-$(mktemp -d /var/tmp/catena-durable.XXXXXX)}
mkdir -p "$DIR"
TMP=$(mktemp -d /tmp/catena-dbench.XXXXXX)
NS=catdur-m
NSK=catdur-k
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	ip netns del $NS 2>/dev/null
	ip netns del $NSK 2>/dev/null
	rm -f /dev/hugepages/catdur-* 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
ip netns del $NS 2>/dev/null; ip netns del $NSK 2>/dev/null
ip netns add $NS && ip -n $NS link set lo up
ip netns add $NSK && ip -n $NSK link set lo up
ROWS=$TMP/rows
: > "$ROWS"

printf 'epoch 1\nslots 1024\ncraq off\nnode 1 10.97.0.1 02:ca:7e:00:00:01\nchain 1 1\nassign 0-1023 1\n' > "$TMP/m.map"

catena_row() { # catena_row NAME DURABILITY-LINES
	local name=$1 extra=$2 np w
	printf '[node]\nid = 1\nip = 10.97.0.1\nidle = backoff\n%b[cluster]\nmap = %s\n' \
		"$extra" "$TMP/m.map" > "$TMP/n.conf"
	rm -f "$TMP/s.sock"
	# The log writer is an EAL control thread: it runs on the CPUs the
	# process may use that no lcore has, else on the main lcore's. On two
	# CPUs, with catena-bench polling CPU 1 without pause, the whole node
	# is kept to CPU 0 (taskset, lcores 0@0 and 1@0), or every sync waits
	# for a time slice behind the bench (7 ms here).
	ip netns exec $NS taskset -c 0 "$BUILD/dataplane/catena-node" --lcores 0@0,1@0 --main-lcore 1 --no-pci \
		--file-prefix catdur-n --huge-unlink -m 256 --log-level 'lib.*:warning' \
		--vdev "net_memif0,role=server,socket=$TMP/s.sock,socket-abstract=no,mac=02:ca:7e:00:00:01" \
		-- --config "$TMP/n.conf" > "$TMP/n.out" 2> "$TMP/n.err" &
	np=$!
	PIDS+=($np)
	for _ in $(seq 100); do [ -S "$TMP/s.sock" ] && break; sleep 0.05; done
	for w in 1 32; do
		ip netns exec $NS timeout 120 "$BUILD/perf/catena-bench" -l 1 --no-pci \
			--file-prefix catdur-b --huge-unlink -m 512 --log-level 'lib.*:warning' \
			--vdev "net_memif0,role=client,socket=$TMP/s.sock,socket-abstract=no" -- \
			--ip 10.97.0.100 --map "$TMP/m.map" --keys 100000 --get 0 --put 100 \
			--window $w --warmup 0.5 --duration "$SECS" --no-preload --quiet \
			--json "$TMP/c.json" > /dev/null 2> "$TMP/c.err" \
			|| { echo "durable_bench.sh: catena-bench failed ($name, window $w):" >&2; tail -3 "$TMP/c.err" >&2; continue; }
		/usr/bin/python3 - "$TMP/c.json" "$name" "$w" >> "$ROWS" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))["runs"][-1]
p = d["ops"]["PUT"]
print(f"{sys.argv[2]}\t{sys.argv[3]}\t{d['achieved_ops']:.0f}\t{p['p50']}\t{p['p99']}\t{p['p999']}")
PY
	done
	kill -TERM $np; wait $np 2>/dev/null
	grep -h "durability" "$TMP/n.err" | sed 's/^/  /' >&2
}

redis_row() { # redis_row NAME APPENDFSYNC
	local name=$1 policy=$2 rp w
	rm -rf "$DIR/redis" && mkdir -p "$DIR/redis"
	ip netns exec $NSK taskset -c 0 redis-server --port 26390 --bind 127.0.0.1 --save '' \
		--dir "$DIR/redis" --appendonly yes --appendfsync "$policy" --protected-mode no \
		--daemonize no --logfile "$TMP/redis.log" &
	rp=$!
	PIDS+=($rp)
	for _ in $(seq 100); do
		ip netns exec $NSK bash -c 'echo > /dev/tcp/127.0.0.1/26390' 2>/dev/null && break
		sleep 0.05
	done
	for w in 1 32; do
		ip netns exec $NSK taskset -c 1 timeout 120 "$BUILD/perf/catena-kv-bench" \
			--proto redis --port 26390 --conns $w --get 0 --keys 100000 --key-size 16 \
			--value-size 32 --warmup 0.5 --duration "$SECS" --no-preload \
			--json "$TMP/r.json" > /dev/null 2> "$TMP/r.err" \
			|| { echo "durable_bench.sh: catena-kv-bench failed ($name, $w):" >&2; tail -3 "$TMP/r.err" >&2; continue; }
		/usr/bin/python3 - "$TMP/r.json" "$name" "$w" >> "$ROWS" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))["runs"][-1]
p = d["ops"].get("SET") or d["ops"].get("PUT") or d["lat_us"]
print(f"{sys.argv[2]}\t{sys.argv[3]}\t{d['achieved_ops']:.0f}\t{p['p50']}\t{p['p99']}\t{p['p999']}")
PY
	done
	kill -TERM $rp; wait $rp 2>/dev/null
}

echo "== catena, one node over memif; logs in $DIR ($(df -T "$DIR" | awk 'NR==2 {print $2}'))" >&2
catena_row "catena durability=none" ""
rm -rf "$DIR/log-ms"
catena_row "catena log, fsync every_ms 10" "durability = log\nfsync = every_ms 10\nlog_dir = $DIR/log-ms\n"
rm -rf "$DIR/log-always"
catena_row "catena log, fsync always" "durability = log\nfsync = always\nlog_dir = $DIR/log-always\n"
echo "== redis, appendonly yes" >&2
redis_row "redis appendfsync everysec" everysec
redis_row "redis appendfsync always" always

printf '\nPUT only, 16-byte keys, 32-byte values, %s s per row; latency in us\n' "$SECS"
printf '%-34s %9s %10s %9s %9s %9s\n' system outstand ops/s p50 p99 p99.9
awk -F'\t' '{printf "%-34s %9s %10s %9s %9s %9s\n", $1, $2, $3, $4, $5, $6}' "$ROWS"
[ "$(wc -l < "$ROWS")" -ge 10 ] || { echo "durable_bench.sh: only $(wc -l < "$ROWS") of 10 rows measured" >&2; exit 1; }
