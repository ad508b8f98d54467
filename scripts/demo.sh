#!/usr/bin/env bash
# catena demo: the embedded default cluster -- three catena-nodes replicating
# every slot on chains of three (config/cluster-3chains.map: each node is head
# of one chain, middle of one, tail of one) -- on a virtual Ethernet segment
# made of network namespaces (a Linux bridge and veth pairs; each node drives
# its veth with DPDK's net_af_packet). It runs a few catena-cli operations, a
# short mixed benchmark from a kernel UDP client, checks that the replicas
# agree, prints a one-screen summary, and stops everything cleanly.
#
#   scripts/demo.sh [SECONDS]        benchmark length, default 5
set -uo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${CATENA_BUILD:-$REPO/build}
SECS=${1:-5}
P=catdemo                      # prefix of everything this script creates
NODES="1 2 3"
CLI_IP=10.99.0.100             # the shipped map's addresses, only ever
                               # inside the demo's own namespaces
PY=/usr/bin/python3
TMP=
declare -A PID

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
die() { printf 'demo: error: %s\n' "$*" >&2; exit 1; }

cleanup() {
	for n in $NODES; do
		if [ -n "${PID[$n]:-}" ] && kill -0 "${PID[$n]}" 2>/dev/null; then
			kill -TERM "${PID[$n]}" 2>/dev/null
			wait "${PID[$n]}" 2>/dev/null
		fi
	done
	# A run killed before its own clean-up may have left nodes behind.
	pkill -TERM -f -- "--file-prefix $P-n[123] " 2>/dev/null && sleep 1
	for ns in $P-n1 $P-n2 $P-n3 $P-c1 $P-br; do ip netns del "$ns" 2>/dev/null; done
	rm -f /dev/hugepages/$P-n[123]map_* 2>/dev/null
	[ -n "$TMP" ] && rm -rf "$TMP"
	return 0
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP PIPE

bash "$REPO/scripts/setup.sh" || die "set-up failed"
cleanup
TMP=$(mktemp -d /tmp/catena-demo.XXXXXX)

say "network: bridge $P-br; nodes $P-n1..3 (10.99.0.1..3, DPDK af_packet); client $P-c1 ($CLI_IP)"
ip netns add $P-br || die "cannot create namespaces (root?)"
ip -n $P-br link add br0 type bridge
ip -n $P-br link set br0 up
# Bridged IPv4 must not detour through the host's iptables (br_netfilter).
for f in iptables ip6tables arptables; do
	ip netns exec $P-br sysctl -qw net.bridge.bridge-nf-call-$f=0 2>/dev/null
done
for end in n1 n2 n3 c1; do
	ip netns add $P-$end
	ip link add v$end netns $P-$end type veth peer name b$end netns $P-br
	ip -n $P-br link set b$end master br0 up
	ip netns exec $P-$end sysctl -qw net.ipv6.conf.all.disable_ipv6=1
	ip -n $P-$end link set lo up
done
for n in $NODES; do
	# Peers address each other by the MACs in the map.
	ip -n $P-n$n link set vn$n address 02:ca:7e:00:00:0$n
	ip -n $P-n$n link set vn$n up
done
ip -n $P-c1 link set vc1 up
ip -n $P-c1 addr add $CLI_IP/24 dev vc1

say "starting three catena-nodes (config/node1..3.conf, map config/cluster-3chains.map)"
for n in $NODES; do
	sed -e "s|^map = .*|map = $REPO/config/cluster-3chains.map|" \
		"$REPO/config/node$n.conf" > "$TMP/node$n.conf"
	ip netns exec $P-n$n "$BUILD/dataplane/catena-node" -l 0,1 --no-pci \
		--file-prefix $P-n$n --huge-unlink -m 256 --log-level 'lib.*:warning' \
		--vdev net_af_packet0,iface=vn$n,qpairs=1 -- \
		--config "$TMP/node$n.conf" >"$TMP/node$n.out" 2>"$TMP/node$n.err" &
	PID[$n]=$!
done
for n in $NODES; do
	for _ in $(seq 200); do
		grep -q 'catena-node: ready' "$TMP/node$n.out" 2>/dev/null && break
		kill -0 "${PID[$n]}" 2>/dev/null || break
		sleep 0.1
	done
	grep -q 'catena-node: ready' "$TMP/node$n.out" || { cat "$TMP/node$n.err" >&2; die "node $n did not start"; }
	cat "$TMP/node$n.out"
done

C() {
	printf '$ catena-cli %s\n' "$*"
	ip netns exec $P-c1 "$BUILD/client/catena-cli" -H 10.99.0.1 "$@"
}
T() { # telemetry command $2 on node $1, JSON on stdout
	echo "$2" | ip netns exec $P-n$1 dpdk-telemetry.py -f $P-n$1 2>/dev/null
}

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
ip netns exec $P-c1 "$BUILD/perf/catena-udp-bench" -H 10.99.0.1 -d "$SECS" -w 8 -k 10000 -r 80
BENCH_RC=$?
echo "(a kernel UDP client and three af_packet nodes sharing 2 cores with the backoff"
echo " idle policy: this shows the demo plumbing, not NIC-hardware latency)"

say "replicas: every chain's three copies must hold the same data"
for _ in $(seq 50); do # let the last acks land
	busy=0
	for n in $NODES; do
		T $n /catena/stats | grep -q '"repl_in_flight": 0' || busy=1
	done
	[ $busy = 0 ] && break
	sleep 0.1
done
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
comb = {n: (dig[n].get("slots_written"), dig[n].get("combined")) for n in (1, 2, 3)}
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
sys.exit(1 if bad else 0)
EOF
AGREE_RC=$?

say "stopping the nodes (SIGTERM)"
RC=0
for n in $NODES; do
	kill -TERM "${PID[$n]}"; wait "${PID[$n]}"; r=$?
	PID[$n]=
	[ $r = 0 ] || RC=$r
	tail -1 "$TMP/node$n.err"
done
left=$(ls /dev/hugepages 2>/dev/null | grep -c "^$P-n" || true)
echo "node exit status $RC, hugepage files left: $left"
[ "$RC" = 0 ] && [ "$left" = 0 ] && [ "$BENCH_RC" = 0 ] && [ "$AGREE_RC" = 0 ] \
	|| die "demo finished with errors"
say "demo OK: three replicas, every write acknowledged by the tail, replicas identical"
