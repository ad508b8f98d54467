#!/usr/bin/env bash
# catena side by side with Redis and memcached, on this machine, in one run.
# Every row uses the same key count, 16-byte keys, the same value size, the
# same 50% GET / 50% PUT mix and the same number of requests outstanding
# (closed loop), and each system gets one worker core's worth of threads:
#
#   catena 1 node   memif   catena-bench (DPDK) <-memif-> catena-node
#   catena chain 2  memif   catena-bench is also the L2 segment: one memif per
#   catena chain 3  memif   node, frames between nodes switched by the bench
#   catena 1 node, busy poll  memif, the node polling without pause
#   catena 1 node   kernel  catena-udp-bench (kernel UDP socket in a namespace)
#   catena chain 3  kernel  -> Linux bridge -> veth -> net_af_packet nodes
#   catena 1 node   tap     catena-bench (DPDK net_tap) -> bridge -> net_tap
#   catena chain 3  tap     nodes with idle = interrupt (blocked in epoll
#                           until a frame comes, as on a NIC)
#   redis           tcp     catena-kv-bench over loopback, GET/SET
#   redis +2 WAIT   tcp     two replicas; "WAIT 2 0" after every SET
#   memcached       tcp     catena-kv-bench, get/set, one worker thread (-t 1)
#
# Pinned alike: catena's node workers and the Redis/memcached servers on
# CPU 0, catena-bench and catena-kv-bench on CPU 1 (taskset).
#
# plus one node polling without pause (idle = busy, its own core: the
# hardware set-up) for its latency and peak GET throughput (window 256,
# batches of 16), and an open-loop sweep of one node for the
# throughput-latency plot. Nodes otherwise use the backoff idle policy
# (several share a core), which costs latency at low load. Prints one
# table (throughput, GET and PUT p50/p99/p99.9, ratios against the catena
# memif row with the same number of copies), writes OUT/compare.json and the
# plots OUT/compare-latency.png, OUT/compare-dist.png, OUT/sweep.png.
# A catena-node that dies is reported on stderr as it is noticed (which
# node, its signal or exit status, the last 20 lines of its log), not only
# as the benchmark's failure to reach it.
#
#   perf/compare.sh [--quick] [--seconds S] [--keys N] [--value-size B]
#                   [--window N] [--build DIR] [--out DIR]
#
# Root (namespaces, hugepages). Defaults: 5 s per row, 100000 keys, 32-byte
# values, window 4; --quick: 1 s per row, 10000 keys, a short sweep.
# Everything runs in network namespaces this script makes (prefix catcmp);
# nothing is sent outside them. Numbers measure this machine: on a 2-core VM
# every node, server and client shares the same two cores.
set -uo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${CATENA_BUILD:-$REPO/build}
OUT=
SECS=5
WARM=1
KEYS=100000
VSIZE=32
WINDOW=4
QUICK=0
GETPCT=50
PY=/usr/bin/python3

die() { echo "compare.sh: error: $*" >&2; exit 2; }
usage() { sed -n '2,30p' "$0" >&2; exit 64; }

while [ $# -gt 0 ]; do
	case "$1" in
	--quick) QUICK=1; SECS=1.0; WARM=0.3; KEYS=10000 ;;
	--seconds) SECS=${2:?}; shift ;;
	--keys) KEYS=${2:?}; shift ;;
	--value-size) VSIZE=${2:?}; shift ;;
	--window) WINDOW=${2:?}; shift ;;
	--build) BUILD=${2:?}; shift ;;
	--out) OUT=${2:?}; shift ;;
	-h|--help) usage ;;
	*) echo "compare.sh: unknown option: $1" >&2; usage ;;
	esac
	shift
done
[[ $SECS =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "--seconds: not a number: $SECS"
[[ $KEYS =~ ^[1-9][0-9]*$ ]] || die "--keys: not a positive integer: $KEYS"
[[ $VSIZE =~ ^[1-9][0-9]*$ && $VSIZE -le 1000 ]] || die "--value-size: 1..1000: $VSIZE"
[[ $WINDOW =~ ^[1-9][0-9]*$ && $WINDOW -le 256 ]] || die "--window: 1..256: $WINDOW"
[ "$(id -u)" = 0 ] || die "must run as root (network namespaces, hugepages)"
BUILD=$(cd "$BUILD" 2>/dev/null && pwd) || die "no build directory (run scripts/setup.sh)"
OUT=${OUT:-$BUILD/compare}
mkdir -p "$OUT" || die "cannot create $OUT"
OUT=$(cd "$OUT" && pwd)
rm -f "$OUT"/hops-*.jsonl

# Everything this needs; setup.sh installs the packages.
missing=()
for t in redis-server redis-cli memcached gnuplot; do
	command -v $t >/dev/null || missing+=("$t")
done
for b in dataplane/catena-node perf/catena-bench perf/catena-udp-bench perf/catena-kv-bench; do
	[ -x "$BUILD/$b" ] || missing+=("$BUILD/$b")
done
[ ${#missing[@]} = 0 ] || die "missing: ${missing[*]} (run: bash scripts/setup.sh)"
grep -qs ' /dev/hugepages hugetlbfs ' /proc/mounts || die "no hugetlbfs at /dev/hugepages (run: bash scripts/setup.sh)"

TMP=$(mktemp -d /tmp/catena-compare.XXXXXX)
NSM=catcmp-m              # memif rows: nodes and catena-bench
NSK=catcmp-k              # Redis and memcached, on this namespace's loopback
CL_P=catcmpu              # kernel-UDP rows: scripts/cluster-lib.sh's bridge
CL_BUILD=$BUILD
CL_TMP=$TMP/cl
mkdir -p "$CL_TMP"
# shellcheck source=scripts/cluster-lib.sh
. "$REPO/scripts/cluster-lib.sh"
declare -a MPIDS=() KPIDS=()

stop_pids() {
	local p
	for p in "$@"; do
		kill -TERM "$p" 2>/dev/null
	done
	for p in "$@"; do
		wait "$p" 2>/dev/null
	done
}

# A catena-node that died is reported with how it ended and the end of
# its log, not only through the client that then could not reach it.
# GONE[pid] is its wait status once reaped (wait gives it only once).
declare -A GONE=()

# node_running PID: the process exists and is not a zombie (kill -0 also
# succeeds on a child that died and was not yet waited for).
node_running() {
	local st
	st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)
	[ -n "$st" ] && [ "$st" != Z ]
}

# node_ended NAME PID STATUS LOG WHAT: one line saying how catena-node NAME
# ended (signal or exit status from wait) and WHAT (when it was noticed),
# then the last 20 lines of its log LOG.
node_ended() {
	local how
	if [ "$3" -gt 128 ] && [ "$3" -lt 192 ]; then
		how="killed by signal $(($3 - 128)) (SIG$(kill -l $(($3 - 128)) 2>/dev/null))"
	else
		how="exited with status $3"
	fi
	echo "compare.sh: catena-node $1 (pid $2) $how, $5; last 20 lines of its log ($4):" >&2
	tail -n 20 "$4" 2>/dev/null | sed 's/^/compare.sh:   | /' >&2
}

# node_check NAME PID LOG WHEN: if the node is no longer running, report
# its death (once; WHEN says when it was noticed) and return 0; 1 while it
# runs.
node_check() {
	local st
	[ -n "$2" ] || return 1
	[ -n "${GONE[$2]:-}" ] && return 0
	node_running "$2" && return 1
	wait "$2" 2>/dev/null
	st=$?
	GONE[$2]=$st
	node_ended "$1" "$2" "$st" "$3" "died (noticed $4)"
	return 0
}

# node_stop NAME PID LOG WHEN: SIGTERM and wait. A node that had died
# already is reported as such; one that does not exit 0 on SIGTERM too.
node_stop() {
	local st
	[ -n "$2" ] || return 0
	node_check "$1" "$2" "$3" "$4" && return 0
	kill -TERM "$2" 2>/dev/null
	wait "$2" 2>/dev/null
	st=$?
	GONE[$2]=$st
	[ "$st" = 0 ] || node_ended "$1" "$2" "$st" "$3" "did not stop cleanly on SIGTERM ($4)"
}

# memif_check LEN CONTEXT [show]: report memif nodes 1..LEN that died
# (CONTEXT: when, e.g. after a catena-bench run); returns 1 if one did.
# With show, also the end of the log of those still running (a client
# could not reach them).
memif_check() {
	local n dead=0
	for n in $(seq 1 "$1"); do
		if node_check "m$n" "${MPIDS[$((n - 1))]:-}" "$TMP/m$n.err" "$2"; then
			dead=1
		elif [ -n "${3:-}" ]; then
			echo "compare.sh: catena-node m$n (pid ${MPIDS[$((n - 1))]:-}) is still running; last 20 lines of its log ($TMP/m$n.err):" >&2
			tail -n 20 "$TMP/m$n.err" 2>/dev/null | sed 's/^/compare.sh:   | /' >&2
		fi
	done
	return $dead
}

# memif_stop LEN CONTEXT: stop memif nodes 1..LEN, reporting any death.
memif_stop() {
	local n
	for n in $(seq 1 "$1"); do
		node_stop "m$n" "${MPIDS[$((n - 1))]:-}" "$TMP/m$n.err" "stopping after $2"
	done
	MPIDS=()
}

# cl_check CONTEXT / cl_stop_report CONTEXT: the same for the kernel-UDP
# rows' nodes (scripts/cluster-lib.sh's CL_PID, logs in $CL_TMP).
cl_check() {
	local n
	for n in $CL_NODES; do
		node_check "n$n" "${CL_PID[$n]:-}" "$CL_TMP/node$n.err" "$1"
	done
}
cl_stop_report() {
	local n
	for n in $CL_NODES; do
		node_stop "n$n" "${CL_PID[$n]:-}" "$CL_TMP/node$n.err" "stopping after $1"
		CL_PID[$n]=
	done
}

cleanup() {
	stop_pids "${MPIDS[@]}" "${KPIDS[@]}"
	MPIDS=(); KPIDS=()
	cl_down >/dev/null 2>&1
	ip netns del $NSM 2>/dev/null
	ip netns del $NSK 2>/dev/null
	rm -f /dev/hugepages/catcmp-* 2>/dev/null
	# An ASan+UBSan build's reports (UBSan writes only to stderr) of the
	# nodes and catena-control started here outlive $TMP: on this
	# script's stderr, where tests/integration/test_perf_compare.py
	# fails on them.
	grep -rlE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error: ' \
		"$TMP" 2>/dev/null | while read -r f; do
		echo "compare.sh: sanitizer report in $f:" >&2
		cat "$f" >&2
	done
	rm -rf "$TMP"
	return 0
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

say() { printf '\n== %s\n' "$*" >&2; }
ROWS=$TMP/rows.tsv          # system, copies, transport, client, json path
: > "$ROWS"
row() { printf '%s\t%s\t%s\t%s\t%s\n' "$@" >> "$ROWS"; }

ip netns del $NSM 2>/dev/null; ip netns del $NSK 2>/dev/null; cl_down >/dev/null 2>&1
# Other work on the machine shows in every number: keep it with the results.
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
ip netns add $NSM || die "cannot create network namespace $NSM"
ip -n $NSM link set lo up

# ---- catena over memif -----------------------------------------------------

# memif_nodes N: start nodes 1..N, each with one memif (server side; the
# socket a file in $TMP) and the chain map of length N. The node worker runs
# on CPU 0 (--main-lcore 1 keeps the agent on CPU 1), catena-bench on CPU 1,
# and nodes use the backoff idle policy: several nodes share a core.
memif_nodes() {
	local len=$1 idle=${2:-backoff} n
	{
		echo "epoch 1"; echo "slots 1024"; echo "craq off"
		for n in $(seq 1 "$len"); do echo "node $n 10.98.0.$n 02:ca:7e:00:00:0$n"; done
		echo "chain 1 $(seq -s ' ' 1 "$len")"
		echo "assign 0-1023 1"
	} > "$TMP/memif$len.map"
	MPIDS=()
	for n in $(seq 1 "$len"); do
		printf '[node]\nid = %s\nip = 10.98.0.%s\nidle = %s\n[cluster]\nmap = %s\n' \
			"$n" "$n" "$idle" "$TMP/memif$len.map" > "$TMP/m$n.conf"
		rm -f "$TMP/m$n.sock"
		ip netns exec $NSM "$BUILD/dataplane/catena-node" -l 0,1 --main-lcore 1 --no-pci \
			--file-prefix catcmp-n$n --huge-unlink -m 256 --log-level 'lib.*:warning' \
			--vdev "net_memif0,role=server,socket=$TMP/m$n.sock,socket-abstract=no,mac=02:ca:7e:00:00:0$n" \
			-- --config "$TMP/m$n.conf" > "$TMP/m$n.out" 2> "$TMP/m$n.err" &
		MPIDS+=($!)
	done
	for n in $(seq 1 "$len"); do
		for _ in $(seq 100); do
			[ -S "$TMP/m$n.sock" ] && break
			sleep 0.05
		done
		if [ ! -S "$TMP/m$n.sock" ]; then
			memif_check "$len" "while starting" && cat "$TMP/m$n.err" >&2
			return 1
		fi
	done
}

# memif_bench LEN NAME JSON [catena-bench options]: catena-bench on every
# node's memif, routing by the chain map.
memif_bench() {
	local len=$1 name=$2 json=$3 n vdevs=() tels=()
	shift 3
	for n in $(seq 1 "$len"); do
		vdevs+=(--vdev "net_memif$((n - 1)),role=client,socket=$TMP/m$n.sock,socket-abstract=no")
		tels+=(--node-telemetry catcmp-n$n)
	done
	ip netns exec $NSM timeout 300 "$BUILD/perf/catena-bench" -l 1 --no-pci \
		--file-prefix catcmp-b --huge-unlink -m 512 --log-level 'lib.*:warning' \
		"${vdevs[@]}" -- --ip 10.98.0.100 --map "$TMP/memif$len.map" \
		--keys "$KEYS" --key-size 16 --value-size "$VSIZE" --label "$name" \
		--json "$json" "${tels[@]}" "$@" > "$json.txt" 2> "$json.err"
	local rc=$?
	cat "$json.txt" >&2
	[ $rc = 0 ] || { echo "compare.sh: catena-bench failed ($name):" >&2; grep -v TELEMETRY "$json.err" | tail -5 >&2; }
	# A node that died during the run, or as this client went away (the
	# PMD handles the disconnect a moment after catena-bench exits).
	if [ $rc = 0 ]; then
		sleep 0.2
		memif_check "$len" "after catena-bench run '$name'"
	else
		memif_check "$len" "when catena-bench run '$name' failed" show
	fi
	return $rc
}

for len in 1 2 3; do
	case $len in 1) name="catena 1 node" ;; *) name="catena chain $len" ;; esac
	say "$name over memif: catena-bench, closed loop, window $WINDOW, ${SECS}s"
	if memif_nodes $len; then
		json=$OUT/catena-memif-$len.json
		memif_bench $len "$name" "$json" --window "$WINDOW" --get $GETPCT --put $((100 - GETPCT)) \
			--warmup "$WARM" --duration "$SECS" --quiet \
			&& row "$name" $len "memif (DPDK both ends)" catena-bench "$json"
		# The protocol's own cost per hop (/catena/hops), apart from
		# wake-ups and the client: one line per node in the summary.
		for n in $(seq 1 $len); do
			echo /catena/hops | ip netns exec $NSM dpdk-telemetry.py -f catcmp-n$n 2>/dev/null |
				$PY -c 'import json,sys
d=json.loads(sys.stdin.read())["/catena/hops"]
print(json.dumps({"node": int(sys.argv[1]), "fwd": d["fwd"], "reply": d["reply"]}))' $n \
				>> "$OUT/hops-$len.jsonl" 2>/dev/null || true
		done
		if [ $len = 1 ]; then
			if [ $QUICK = 1 ]; then rates=50000,200000; sdur=0.5; else rates=50000,100000,200000,400000,600000,800000; sdur=$SECS; fi
			say "catena 1 node, memif: open-loop sweep $rates ops/s"
			memif_bench 1 "catena 1 node sweep" "$OUT/catena-memif-sweep.json" \
				--sweep $rates --get $GETPCT --put $((100 - GETPCT)) --warmup 0.3 \
				--duration $sdur --no-preload --quiet || true
		fi
	else
		echo "compare.sh: $name: nodes did not start" >&2
	fi
	memif_stop $len "the '$name' row"
done

# One node is the only catena that can poll without pause here: its worker
# gets CPU 0 to itself (as on hardware), catena-bench CPU 1. Both cores are
# then busy, so these two rows are kept to a few seconds.
BSECS=$($PY -c "print(min(float('$SECS'), 3.0))")
say "catena 1 node over memif, busy polling (idle = busy): latency, then peak GET"
if memif_nodes 1 busy; then
	memif_bench 1 "catena 1 node, busy poll" "$OUT/catena-memif-busy.json" --window "$WINDOW" \
		--get $GETPCT --put $((100 - GETPCT)) --warmup "$WARM" --duration "$BSECS" --quiet \
		&& row "catena 1 node, busy poll" 1 "memif; node idle=busy on its own core" catena-bench "$OUT/catena-memif-busy.json"
	memif_bench 1 "catena 1 node peak GET" "$OUT/catena-memif-peak.json" \
		--window 256 --batch 16 --get 100 --warmup "$WARM" --duration "$BSECS" \
		--no-preload --quiet \
		&& row "catena 1 node peak GET" 1 "memif; idle=busy, window 256, batch 16" catena-bench "$OUT/catena-memif-peak.json"
else
	echo "compare.sh: catena 1 node (busy): node did not start" >&2
fi
memif_stop 1 "the busy-poll rows"
ip netns del $NSM 2>/dev/null

# ---- catena through the kernel (same client stack as Redis) ----------------

# bridge_map FILE LEN: the map of the bridge rows (cluster-lib.sh's nodes
# 10.99.0.1..3 with their MACs), one chain of nodes 1..LEN.
bridge_map() {
	{
		echo "epoch 1"; echo "slots 1024"; echo "craq off"
		for n in 1 2 3; do echo "node $n 10.99.0.$n 02:ca:7e:00:00:0$n"; done
		echo "chain 1 $(seq -s ' ' 1 "$2")"
		echo "assign 0-1023 1"
	} > "$1"
}

say "catena over kernel UDP: catena-udp-bench in a namespace -> bridge -> af_packet nodes"
if cl_net_up; then
	for len in 1 3; do
		case $len in 1) name="catena 1 node (kernel UDP)" ;; *) name="catena chain 3 (kernel UDP)" ;; esac
		bridge_map "$TMP/udp$len.map" "$len"
		if cl_start "$TMP/udp$len.map"; then
			json=$OUT/catena-udp-$len.json
			isecs=$(printf '%.0f' "$SECS"); [ "$isecs" -ge 1 ] || isecs=1
			if ip netns exec $CL_P-c1 "$BUILD/perf/catena-udp-bench" -H 10.99.0.1 \
				-d "$isecs" -w "$WINDOW" -k "$KEYS" -v "$VSIZE" -r $GETPCT --json > "$json"; then
				row "$name" $len "kernel UDP -> veth/bridge -> af_packet" catena-udp-bench "$json"
			else
				echo "compare.sh: catena-udp-bench failed ($name)" >&2
				[ -s "$json" ] && row "$name" $len "kernel UDP -> veth/bridge -> af_packet" catena-udp-bench "$json"
			fi
			$PY -c 'import json,sys; d=json.load(open(sys.argv[1])); print("  %.0f ops/s, p50 %.1f us, p99 %.1f us" % (d["ops_per_sec"], d["lat_us"]["p50"], d["lat_us"]["p99"]))' "$json" >&2 2>/dev/null
			cl_check "after catena-udp-bench run '$name'"
		else
			echo "compare.sh: $name: nodes did not start" >&2
			cl_check "while starting for '$name'"
		fi
		cl_stop_report "the '$name' row"
		cl_stop >/dev/null 2>&1
	done
else
	echo "compare.sh: cannot build the bridge namespaces" >&2
fi
cl_down >/dev/null 2>&1

# ---- catena on interrupt-capable ports (net_tap, idle = interrupt) ---------

# The same bridge as the kernel-UDP rows, but every node drives net_tap
# (the tap's kernel side bridged to its veth) with idle = interrupt: a node
# with nothing to do blocks in epoll until a frame arrives instead of
# sleeping a fixed backoff, which is what a shared core can do on hardware
# NICs. catena-bench is on net_tap too (bridged in the client namespace),
# still polling without pause on CPU 1. Each frame crosses two kernel
# bridges and a veth per hop, which the memif rows do not pay.
say "catena on net_tap, idle = interrupt: catena-bench (net_tap) -> bridge -> net_tap nodes"
CL_PORT=tap CL_IDLE=interrupt CL_EAL="--main-lcore 1"
if cl_net_up; then
	for len in 1 3; do
		case $len in 1) name="catena 1 node (tap, interrupt)" ;; *) name="catena chain 3 (tap, interrupt)" ;; esac
		bridge_map "$TMP/tap$len.map" "$len"
		if cl_start "$TMP/tap$len.map"; then
			json=$OUT/catena-tap-$len.json
			ip netns exec $CL_P-c1 timeout 300 "$BUILD/perf/catena-bench" -l 1 --no-pci \
				--file-prefix catcmp-b --huge-unlink -m 512 --log-level 'lib.*:warning' \
				--vdev net_tap0,iface=tb0,mac=02:ca:7e:00:00:65 -- --ip 10.99.0.101 \
				--map "$TMP/tap$len.map" --keys "$KEYS" --key-size 16 --value-size "$VSIZE" \
				--label "$name" --json "$json" --window "$WINDOW" --get $GETPCT \
				--put $((100 - GETPCT)) --warmup "$WARM" --duration "$SECS" --quiet \
				> "$json.txt" 2> "$json.err" &
			bpid=$!
			cl_tap_attach $CL_P-c1 tb0 brc $bpid
			if wait $bpid; then
				cat "$json.txt" >&2
				row "$name" $len "net_tap -> bridge -> net_tap; nodes idle=interrupt" catena-bench "$json"
			else
				echo "compare.sh: catena-bench failed ($name):" >&2
				grep -v 'TELEMETRY\|qdisc\|tap_nl\|eth_dev_tap' "$json.err" | tail -5 >&2
			fi
			cl_check "after catena-bench run '$name'"
		else
			echo "compare.sh: $name: nodes did not start" >&2
			cl_check "while starting for '$name'"
		fi
		cl_stop_report "the '$name' row"
		cl_stop >/dev/null 2>&1
	done
else
	echo "compare.sh: cannot build the bridge namespaces for the tap rows" >&2
fi
cl_down >/dev/null 2>&1
CL_PORT=af_packet CL_IDLE= CL_EAL=

# ---- Redis and memcached ----------------------------------------------------

# Pinned as catena is: the servers (Redis, its replicas, memcached) share
# CPU 0 as the catena nodes' workers do, the client gets CPU 1 as
# catena-bench does.
SERVER_CPU=0
CLIENT_CPU=1
ip netns add $NSK || die "cannot create network namespace $NSK"
ip -n $NSK link set lo up
kv() { # kv NAME JSON [catena-kv-bench options]
	local name=$1 json=$2
	shift 2
	ip netns exec $NSK timeout 300 taskset -c $CLIENT_CPU "$BUILD/perf/catena-kv-bench" --keys "$KEYS" --key-size 16 \
		--value-size "$VSIZE" --conns "$WINDOW" --get $GETPCT --warmup "$WARM" \
		--duration "$SECS" --label "$name" --json "$json" "$@" >&2
}
wait_port() { # wait_port PORT: until something listens on loopback PORT
	for _ in $(seq 100); do
		ip netns exec $NSK bash -c "echo > /dev/tcp/127.0.0.1/$1" 2>/dev/null && return 0
		sleep 0.05
	done
	return 1
}
redis_start() { # redis_start PORT [extra args]: no persistence, foreground
	local port=$1
	shift
	ip netns exec $NSK taskset -c $SERVER_CPU redis-server --port "$port" --bind 127.0.0.1 --save '' --dir "$TMP" \
		--appendonly no --protected-mode no --daemonize no --logfile "$TMP/redis$port.log" "$@" &
	KPIDS+=($!)
	wait_port "$port"
}

say "redis alone: catena-kv-bench, $WINDOW connections"
if redis_start 26379; then
	kv "redis" "$OUT/redis.json" --proto redis --port 26379 \
		&& row "redis" 1 "kernel TCP loopback, servers on CPU 0" catena-kv-bench "$OUT/redis.json"
	say "redis with two replicas, WAIT 2 0 after every SET"
	if redis_start 26380 --replicaof 127.0.0.1 26379 && redis_start 26381 --replicaof 127.0.0.1 26379; then
		ok=0
		for _ in $(seq 200); do
			n=$(ip netns exec $NSK redis-cli -p 26379 info replication | grep -c 'state=online')
			[ "$n" = 2 ] && { ok=1; break; }
			sleep 0.05
		done
		if [ $ok = 1 ]; then
			kv "redis + 2 replicas, WAIT 2" "$OUT/redis-wait.json" --proto redis --port 26379 --wait 2 \
				&& row "redis + 2 replicas, WAIT 2" 3 "kernel TCP loopback, servers on CPU 0" catena-kv-bench "$OUT/redis-wait.json"
		else
			echo "compare.sh: redis replicas did not come online" >&2
		fi
	else
		echo "compare.sh: redis replicas did not start" >&2
	fi
else
	echo "compare.sh: redis-server did not start" >&2
fi
stop_pids "${KPIDS[@]}"
KPIDS=()

say "memcached (-t 1): catena-kv-bench, $WINDOW connections"
ip netns exec $NSK taskset -c $SERVER_CPU memcached -u root -l 127.0.0.1 -p 21211 -U 0 -t 1 -m 1024 &
KPIDS+=($!)
if wait_port 21211; then
	kv "memcached" "$OUT/memcached.json" --proto memcache --port 21211 \
		&& row "memcached" 1 "kernel TCP loopback, servers on CPU 0" catena-kv-bench "$OUT/memcached.json"
else
	echo "compare.sh: memcached did not start" >&2
fi
stop_pids "${KPIDS[@]}"
KPIDS=()

# ---- table, JSON, plots ----------------------------------------------------

LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
# The machine's wake-up floor, beside the table: what any latency that
# sleeps (backoff nodes, Redis, memcached) pays per wake-up here.
say "wake-up floor: catena-wakeup-floor, redis-cli --intrinsic-latency 1"
"$BUILD/perf/catena-wakeup-floor" --json > "$OUT/wakeup.json" 2>/dev/null || echo '{}' > "$OUT/wakeup.json"
timeout 10 redis-cli --intrinsic-latency 1 2>/dev/null | tr '\r' '\n' | grep -a 'total runs' | tail -1 > "$OUT/intrinsic.txt" || true
$PY - "$ROWS" "$OUT" "$SECS" "$KEYS" "$VSIZE" "$WINDOW" "$GETPCT" "$QUICK" "$LOAD_START" "$LOAD_END" <<'PY'
import json, os, platform, subprocess, sys, time
rows_tsv, out, secs, keys, vsize, window, getpct, quick, load0, load1 = sys.argv[1:]
try:
    wake = json.load(open(os.path.join(out, "wakeup.json")))
except (OSError, ValueError):
    wake = {}
try:
    intrinsic = open(os.path.join(out, "intrinsic.txt")).read().strip()
except OSError:
    intrinsic = ""

def lat(d, op):
    if d is None:
        return None
    return {k: d.get(k) for k in ("p50", "p90", "p99", "p999", "max", "count")}

rows = []
for line in open(rows_tsv):
    system, copies, transport, client, path = line.rstrip("\n").split("\t")
    d = json.load(open(path))
    if client == "catena-udp-bench":
        tput = d["ops_per_sec"]
        ops = d.get("ops", {})
        buckets = d.get("buckets_us", [])
        errors = d.get("error_replies", 0) + d.get("gave_up", 0)
    else:
        r = d["runs"][-1]
        tput = r["achieved_ops"]
        ops = r.get("ops", {})
        buckets = r["lat_us"].get("buckets_us", [])
        errors = sum(r.get("errors", {}).values()) + r.get("timeouts", 0)
    # One small file per row with its distribution, for plot.sh dist.
    dist = os.path.join(out, "dist-" + "".join(c if c.isalnum() else "_" for c in system) + ".json")
    json.dump({"label": system, "buckets_us": buckets}, open(dist, "w"))
    rows.append({"system": system, "copies": int(copies), "transport": transport,
                 "client": client, "ops_per_sec": tput, "errors": errors,
                 "GET": lat(ops.get("GET"), "GET"), "PUT": lat(ops.get("PUT"), "PUT"),
                 "json": dist, "raw": path})

def ref_for(r):
    # The catena memif row with as many copies of each write.
    for x in rows:
        if x["client"] == "catena-bench" and x["copies"] == r["copies"] and "peak" not in x["system"]:
            return x
    return None

def v(r, op, p):
    x = r.get(op)
    return x.get(p) if x else None

def fmt(x, w=7):
    return f"{x:{w}.1f}" if isinstance(x, (int, float)) else f"{'-':>{w}}"

def ratio(a, b):
    return f"{a / b:6.1f}x" if a and b else f"{'-':>7}"

hdr = (f"{'system':32} {'copies':>6} {'ops/s':>9} | {'GET p50':>7} {'p99':>7} {'p99.9':>7} | "
       f"{'PUT p50':>7} {'p99':>7} {'p99.9':>7} | {'PUT p50':>7} {'PUT p99':>7} {'GET p50':>7} {'ops/s':>7}")
print()
print(f"catena vs Redis vs memcached on {platform.node()} ({os.cpu_count()} CPUs), "
      f"{keys} keys, 16-byte keys, {vsize}-byte values, {getpct}% GET, "
      f"{window} outstanding, {secs} s per row" + (" (--quick)" if quick == "1" else ""))
print(f"load average (1/5/15 min) before: {load0}, after: {load1}")
if wake:
    sd, sm, ef = (wake["sleep_10us_default_slack"], wake["sleep_10us_min_slack"],
                  wake["eventfd_one_way"])
    print(f"wake-up floor: a 10 us sleep takes p50 {sd['p50_us']} us at the default "
          f"{sd['slack_ns']} ns timer slack, {sm['p50_us']} us at 1 ns (catena's workers); "
          f"eventfd wake-up across CPUs {ef['cpus'][0]}->{ef['cpus'][1]} p50 {ef['p50_us']} us "
          f"p99 {ef['p99_us']} us")
if intrinsic:
    print(f"redis-cli --intrinsic-latency 1: {intrinsic}")
hops = {}
for n_ in (2, 3):
    try:
        hops[n_] = [json.loads(l) for l in open(os.path.join(out, f"hops-{n_}.jsonl")) if l.strip()]
    except (OSError, ValueError):
        pass
for n_, nodes in sorted(hops.items()):
    parts = []
    for h in nodes:
        k = "reply" if h["reply"]["count"] and not h["fwd"]["count"] else "fwd"
        parts.append(f"node {h['node']} {k} p50 {h[k]['p50_ns'] / 1e3:.1f} us p99 {h[k]['p99_ns'] / 1e3:.1f} us")
    print(f"per hop, catena chain {n_} over memif (/catena/hops, receive to send): " + "; ".join(parts))
print("latency in microseconds; the last four columns: this row over the catena memif row "
      "with the same copies (x > 1: catena is faster / higher)")
print(hdr)
print("-" * len(hdr))
for r in rows:
    ref = ref_for(r)
    is_ref = ref is r
    print(f"{r['system']:32} {r['copies']:>6} {r['ops_per_sec']:9.0f} | "
          f"{fmt(v(r,'GET','p50'))} {fmt(v(r,'GET','p99'))} {fmt(v(r,'GET','p999'))} | "
          f"{fmt(v(r,'PUT','p50'))} {fmt(v(r,'PUT','p99'))} {fmt(v(r,'PUT','p999'))} | "
          + ("    ref     ref     ref     ref" if is_ref or ref is None or "peak" in r["system"] else
             f"{ratio(v(r,'PUT','p50'), v(ref,'PUT','p50'))} {ratio(v(r,'PUT','p99'), v(ref,'PUT','p99'))} "
             f"{ratio(v(r,'GET','p50'), v(ref,'GET','p50'))} "
             f"{ratio(ref['ops_per_sec'], r['ops_per_sec'])}"))
for r in rows:
    try:
        cap = json.load(open(r["raw"]))["runs"][-1]["capacity"]
    except (OSError, ValueError, KeyError, IndexError, TypeError):
        continue
    nodes = [n for n in cap.get("nodes", []) if "busy_frac" in n]
    if "peak" not in r["system"] or not nodes:
        continue
    print(f"capacity, {r['system']}: node worker busy {100 * nodes[0]['busy_frac']:.0f}%, "
          f"{nodes[0]['requests_per_busy_s'] / 1e6:.2f} M requests per busy second; "
          f"catena-bench busy {100 * cap['bench']['busy_frac']:.0f}%, "
          f"{cap['bench']['replies_per_busy_s'] / 1e6:.2f} M replies per busy second; "
          f"saturated: {cap['saturated']}")
print()
print("transport per row:")
for r in rows:
    print(f"  {r['system']:32} {r['transport']}  [{r['client']}]" +
          (f"  ERRORS/TIMEOUTS: {r['errors']}" if r['errors'] else ""))
doc = {"machine": {"host": platform.node(), "cpus": os.cpu_count(),
                   "kernel": platform.release()},
       "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
       "keys": int(keys), "key_size": 16, "value_size": int(vsize),
       "get_pct": int(getpct), "window": int(window), "seconds": float(secs),
       "quick": quick == "1", "loadavg_before": load0, "loadavg_after": load1,
       "wakeup_floor": wake, "intrinsic_latency": intrinsic,
       "hops": {f"chain{k}": v for k, v in hops.items()},
       "rows": rows}
json.dump(doc, open(os.path.join(out, "compare.json"), "w"), indent=1)
print(f"\nresults: {out}/compare.json")
PY
[ -s "$OUT/compare.json" ] || die "no results"
bash "$REPO/perf/plot.sh" compare "$OUT/compare.json" "$OUT" || echo "compare.sh: plotting failed" >&2
[ -s "$OUT/catena-memif-sweep.json" ] && { bash "$REPO/perf/plot.sh" sweep "$OUT/catena-memif-sweep.json" "$OUT/sweep.png" || echo "compare.sh: sweep plot failed" >&2; }
echo "plots: $OUT/compare-latency.png $OUT/compare-dist.png $OUT/sweep.png"
# Every system must have produced a row.
n=$(wc -l < "$ROWS")
[ "$n" -ge 12 ] || { echo "compare.sh: only $n of 12 rows measured" >&2; exit 1; }
exit 0
