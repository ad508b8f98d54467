#!/usr/bin/env bash
# catena demo: the embedded default cluster -- catena-control owning the map
# and three catena-nodes replicating every slot on chains of three
# (config/cluster-3chains.map: each node is head of one chain, middle of one,
# tail of one) -- on a virtual Ethernet segment
# made of network namespaces (a Linux bridge and veth pairs; each node drives
# DPDK's net_tap, bridged to its veth, with idle = interrupt: a node with
# nothing to do blocks until a frame arrives, so three nodes share two cores
# without sleeping through requests). It runs a few catena-cli operations, a
# short mixed benchmark from a kernel UDP client, checks that the replicas
# agree, prints a one-screen summary, stops everything cleanly, and ends by
# drawing the benchmark's latency (distribution and percentiles, with
# perf/plot.sh) into a PNG it names.
#
#   scripts/demo.sh [SECONDS]        benchmark length, default 5
#
# Environment: CATENA_BUILD (build dir, default <repo>/build),
# CATENA_DEMO_OUT (where the plot and the benchmark's JSON go, default
# <build>/demo; kept after the demo), CATENA_DEMO_PORT=af_packet (nodes on
# net_af_packet with the backoff idle policy instead, as before net_tap).
set -uo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${CATENA_BUILD:-$REPO/build}
SECS=${1:-5}
OUT=${CATENA_DEMO_OUT:-$BUILD/demo}
CL_P=catdemo                   # prefix of everything this script creates
CL_BUILD=$BUILD
CL_TMP=
CL_PORT=${CATENA_DEMO_PORT:-tap}
case $CL_PORT in
tap) CL_IDLE=interrupt; CL_EAL="--main-lcore 1" ;;
af_packet) CL_IDLE=backoff ;;
*) echo "demo: error: CATENA_DEMO_PORT must be tap or af_packet, not $CL_PORT" >&2; exit 2 ;;
esac
PY=/usr/bin/python3
# shellcheck source=scripts/cluster-lib.sh
. "$REPO/scripts/cluster-lib.sh"
P=$CL_P
NODES=$CL_NODES

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
die() { printf 'demo: error: %s\n' "$*" >&2; exit 1; }

cleanup() {
	cl_down
	[ -n "$CL_TMP" ] && rm -rf "$CL_TMP"
	return 0
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP PIPE

bash "$REPO/scripts/setup.sh" || die "set-up failed"
cleanup
CL_TMP=$(mktemp -d /tmp/catena-demo.XXXXXX)
TMP=$CL_TMP

say "network: bridge $P-br; nodes $P-n1..3 (10.99.0.1..3, DPDK $CL_PORT, idle = $CL_IDLE); client $P-c1 ($CL_CLIENT_IP)"
cl_net_up || die "cannot create namespaces (root?)"

say "starting catena-control (file store, first epoch from config/cluster-3chains.map)"
cl_control_start "$REPO/config/cluster-3chains.map" || die "catena-control did not start"
CTL() {
	printf '$ catenactl %s\n' "$*"
	"$BUILD/control/catenactl" -s "$CL_MGMT" "$@"
}

say "starting three catena-nodes (config/node1..3.conf), each connecting to catena-control"
cl_start "$REPO/config/cluster-3chains.map" || die "a node did not start"
cat "$TMP"/node[123].out
for _ in $(seq 50); do # heartbeats every 100 ms
	up=$("$BUILD/control/catenactl" -s "$CL_MGMT" --json status 2>/dev/null \
		| $PY -c 'import json,sys; print(json.load(sys.stdin).get("nodes_up", 0))' 2>/dev/null)
	[ "${up:-0}" = 3 ] && break
	sleep 0.1
done
CTL status
CTL chains

C() {
	printf '$ catena-cli %s\n' "$*"
	ip netns exec $P-c1 "$BUILD/client/catena-cli" -H 10.99.0.1 "$@"
}
T() { cl_tel "$@"; }

say "ping: each node answers ICMP echo itself"
for n in $NODES; do
	ip netns exec $P-c1 ping -c 1 -W 1 10.99.0.$n | grep -E "bytes from" || echo "node $n: no echo"
done

say "catena-cli: the client fetches the map from node 1, then writes go to each key's head, reads to its tail"
C put greeting "hello, chain"
C get greeting
C incr visits 5
C incr visits
C cas greeting 999 "stale write"; echo "(exit $? = CAS_FAILED: version 999 is not current)"
C del greeting
C get greeting; echo "(exit $? = NOT_FOUND)"

say "benchmark: ${SECS}s closed loop, 8 outstanding, 10000 keys, 80% GET / 20% PUT, replicated 3 ways"
mkdir -p "$OUT" || die "cannot create $OUT"
ip netns exec $P-c1 "$BUILD/perf/catena-udp-bench" -H 10.99.0.1 -d "$SECS" -w 8 -k 10000 -r 80 \
	--json > "$OUT/bench.json"
BENCH_RC=$?
# The JSON keeps the histogram for the plot; the same numbers, readable:
[ "$BENCH_RC" = 0 ] && { $PY - "$OUT/bench.json" <<'EOF' || BENCH_RC=1; }
import json, sys
d = json.load(open(sys.argv[1]))
l = d["lat_us"]
n = sum(c for _, c in d.get("buckets_us", []))
print(f"  {n} operations in {d['seconds']:.1f} s: {d['ops_per_sec']:.0f} ops/s;"
      f" map epoch {d['map_epoch']}, {d['chains']} chains of {d['chain_len_max']}")
print(f"  latency (us): p50 {l['p50']:g}  p90 {l['p90']:g}  p99 {l['p99']:g}"
      f"  p99.9 {l['p999']:g}  max {l['max']:g}")
print(f"  retransmits {d['retransmits']}, gave up {d['gave_up']}, error replies {d['error_replies']}")
sys.exit(1 if n == 0 else 0)
EOF
echo "(a kernel UDP client and three $CL_PORT nodes sharing 2 cores with the $CL_IDLE"
echo " idle policy: this shows the demo plumbing, not NIC-hardware latency)"

say "replicas: every chain's three copies must hold the same data"
cl_quiesce || echo "  (writes still in flight after 5 s)"
CTL verify; VERIFY_RC=$?
for n in $NODES; do T $n /catena/digest > "$TMP/digest$n.json"; T $n /catena/stats > "$TMP/stats$n.json"; T $n /catena/chains > "$TMP/chains$n.json"; done
$PY - "$TMP" <<'EOF'
import json, sys, os
d = sys.argv[1]

def load(name):
    txt = open(os.path.join(d, name)).read()
    i = txt.find("{")
    obj, _ = json.JSONDecoder().raw_decode(txt[i:])
    return next(iter(obj.values()))

stats = {n: load(f"stats{n}.json") for n in (1, 2, 3)}
chains = {n: load(f"chains{n}.json") for n in (1, 2, 3)}
dig = {n: load(f"digest{n}.json") for n in (1, 2, 3)}

# Every node replicates every slot here (three chains of three), so one
# combined hash of (slot, version, digest) per node must be equal.
# Digests are decimal strings (exact past 2^53).
comb = {n: (dig[n].get("slots_written"), int(dig[n].get("combined", 0))) for n in (1, 2, 3)}
bad = len(set(comb.values())) != 1
print(f"  slots written: {comb[1][0]}; combined digest per node: "
      + ", ".join(f"{n}: {comb[n][1]:016x}" for n in (1, 2, 3))
      + ("  -> IDENTICAL" if not bad else "  -> DIFFERENT"))
print()
print("  node  role (chain 1/2/3)           requests  fwd sent  acks rcvd  retrans  in flight  keys")
for n in (1, 2, 3):
    st = stats[n]
    ch = chains[n]
    roles = [str(v.get("role", "?")) for k, v in sorted(ch.items())
             if isinstance(v, dict) and "role" in v]
    print(f"  {n:>4}  {'/'.join(roles):28s} {st.get('requests', 0):>9} {st.get('repl_fwd_sent', 0):>9} "
          f"{st.get('repl_acks_received', 0):>10} {st.get('repl_fwd_retransmitted', 0):>8} "
          f"{st.get('repl_in_flight', 0):>10} {st.get('store_keys', 0):>5}")
# Every dropped frame or message is counted by cause; say which.
for n in (1, 2, 3):
    drops = {k: v for k, v in stats[n].items()
             if k.startswith("drop") and k != "drops_total" and isinstance(v, int) and v}
    if drops:
        print(f"  node {n} drops: " + ", ".join(f"{k} {v}" for k, v in sorted(drops.items())))
        if set(drops) <= {"drop_arp_not_for_us", "drop_not_our_mac"}:
            print("    (ARP for the other nodes and frames the bridge floods to every port"
                  " before it learns addresses: expected on a shared segment)")
sys.exit(1 if bad else 0)
EOF
AGREE_RC=$?

say "stopping the nodes (SIGTERM)"
cl_stop; RC=$?
tail -qn1 "$TMP"/node[123].err
cl_control_stop || RC=1
left=$(ls /dev/hugepages 2>/dev/null | grep -c "^$P-n" || true)
echo "node exit status $RC, hugepage files left: $left"

say "latency plot: the benchmark's distribution and percentiles (perf/plot.sh latency)"
PLOT_RC=1
if [ "$BENCH_RC" = 0 ]; then
	bash "$REPO/perf/plot.sh" latency "$OUT/latency.png" "$OUT/bench.json" \
		"catena demo: ${SECS} s closed loop, 80% GET / 20% PUT, 3 chains of 3" \
		&& [ -s "$OUT/latency.png" ] && PLOT_RC=0
fi
if [ "$PLOT_RC" = 0 ]; then
	echo "latency plot: $OUT/latency.png (benchmark JSON: $OUT/bench.json)"
else
	echo "latency plot: NOT written (see above)"
fi
[ "$RC" = 0 ] && [ "$left" = 0 ] && [ "$BENCH_RC" = 0 ] && [ "$AGREE_RC" = 0 ] \
	&& [ "$VERIFY_RC" = 0 ] && [ "$PLOT_RC" = 0 ] \
	|| die "demo finished with errors"
say "demo OK: three replicas, every write acknowledged by the tail, replicas identical"
