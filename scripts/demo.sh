#!/usr/bin/env bash
# catena demo: one catena-node on the embedded default config, in its own
# network namespace on a virtual Ethernet segment (Linux bridge + veth; the
# node drives its veth with DPDK's net_af_packet), a few operations from
# catena-cli, a short benchmark from a kernel UDP client, the node's own
# telemetry counters, and a clean shutdown. Everything it creates it removes.
#
#   scripts/demo.sh [SECONDS]        benchmark length, default 5
set -uo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${CATENA_BUILD:-$REPO/build}
SECS=${1:-5}
P=catdemo                      # prefix of everything this script creates
NET=10.199.77                  # lives only inside the demo's namespaces
NODE_IP=$NET.1
CLI_IP=$NET.100
TMP=$(mktemp -d /tmp/catena-demo.XXXXXX)
NODE_PID=

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
die() { printf 'demo: error: %s\n' "$*" >&2; exit 1; }

cleanup() {
	if [ -n "$NODE_PID" ] && kill -0 "$NODE_PID" 2>/dev/null; then
		kill -TERM "$NODE_PID" 2>/dev/null
		wait "$NODE_PID" 2>/dev/null
	fi
	for ns in $P-n1 $P-c1 $P-br; do ip netns del "$ns" 2>/dev/null; done
	rm -f /dev/hugepages/$P-n1map_* 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

bash "$REPO/scripts/setup.sh" || die "set-up failed"

say "network: bridge $P-br, node namespace $P-n1 ($NODE_IP via DPDK), client $P-c1 ($CLI_IP)"
cleanup 2>/dev/null; TMP=$(mktemp -d /tmp/catena-demo.XXXXXX)
ip netns add $P-br && ip netns add $P-n1 && ip netns add $P-c1 || die "cannot create namespaces"
ip -n $P-br link add br0 type bridge
ip -n $P-br link set br0 up
for end in n1 c1; do
	ip link add v$end netns $P-$end type veth peer name b$end netns $P-br
	ip -n $P-br link set b$end master br0 up
	ip netns exec $P-$end sysctl -qw net.ipv6.conf.all.disable_ipv6=1
	ip -n $P-$end link set v$end up
	ip -n $P-$end link set lo up
done
ip -n $P-c1 addr add $CLI_IP/24 dev vc1

sed -e "s/^ip = .*/ip = $NODE_IP/" -e "s/^idle = .*/idle = backoff/" \
	"$REPO/config/node.conf" > "$TMP/node.conf"

say "starting catena-node (config/node.conf, ip $NODE_IP, idle backoff)"
ip netns exec $P-n1 "$BUILD/dataplane/catena-node" -l 0,1 --no-pci \
	--file-prefix $P-n1 --huge-unlink -m 256 --log-level 'lib.*:warning' \
	--vdev net_af_packet0,iface=vn1,qpairs=1 -- \
	--config "$TMP/node.conf" >"$TMP/node.out" 2>"$TMP/node.err" &
NODE_PID=$!
for _ in $(seq 200); do
	grep -q 'catena-node: ready' "$TMP/node.out" 2>/dev/null && break
	kill -0 $NODE_PID 2>/dev/null || break
	sleep 0.1
done
grep -q 'catena-node: ready' "$TMP/node.out" || { cat "$TMP/node.err" >&2; die "node did not start"; }
cat "$TMP/node.out"

C() {
	printf '$ catena-cli %s\n' "$*"
	ip netns exec $P-c1 "$BUILD/client/catena-cli" -H $NODE_IP "$@"
}

say "ping $NODE_IP (the node answers ICMP echo itself)"
ip netns exec $P-c1 ping -c 2 -W 1 $NODE_IP | tail -2

say "catena-cli round trips"
C put greeting "hello, catena"
C get greeting
C incr visits 5
C incr visits
C cas greeting 999 "stale write"; echo "(exit $? = CAS_FAILED: version 999 is not current)"
C del greeting
C get greeting; echo "(exit $? = NOT_FOUND)"

say "benchmark: ${SECS}s closed loop, 8 outstanding, 10000 keys, 90% GET / 10% PUT"
ip netns exec $P-c1 "$BUILD/perf/catena-udp-bench" -H $NODE_IP -d "$SECS" -w 8 -k 10000 -r 90
BENCH_RC=$?
echo "(kernel UDP client and an af_packet node sharing 2 cores: this measures the"
echo " demo plumbing, not NIC-hardware latency; see docs/ for real benchmarks)"

say "node telemetry (/catena/stats via dpdk-telemetry.py)"
echo /catena/stats | ip netns exec $P-n1 dpdk-telemetry.py -f $P-n1 2>/dev/null \
	| $(command -v /usr/bin/python3) -c '
import json, sys
txt = sys.stdin.read()
i = txt.find("{\"/catena/stats\"")
d = json.loads(txt[i:txt.index("\n", i)] if "\n" in txt[i:] else txt[i:])["/catena/stats"]
nz = {k: v for k, v in d.items() if isinstance(v, int) and v}
for k in sorted(nz): print(f"  {k:28s} {nz[k]}")
' || echo "  (telemetry not readable)"

say "stopping the node (SIGTERM)"
kill -TERM $NODE_PID; wait $NODE_PID; RC=$?
NODE_PID=
tail -3 "$TMP/node.err"
left=$(ls /dev/hugepages 2>/dev/null | grep -c "^$P-n1" || true)
echo "node exit status $RC, hugepage files left: $left"
[ "$RC" = 0 ] && [ "$left" = 0 ] && [ "$BENCH_RC" = 0 ] || die "demo finished with errors"
say "demo OK"
