# catena: shell helpers that build a local cluster on a virtual Ethernet
# segment, shared by scripts/demo.sh and perf/chain_bench.sh. Source it;
# needs root. Everything lives in network namespaces named $CL_P-*: a Linux
# bridge ($CL_P-br), nodes ($CL_P-n1..3: veth vnN with the map's MAC, driven
# by DPDK's net_af_packet) and one client ($CL_P-c1, 10.99.0.100). The
# addresses are the shipped maps' and exist only inside these namespaces.
#
# Set before use: CL_P (prefix), CL_BUILD (build dir), CL_TMP (scratch dir).
# Optional, before cl_net_up:
#   CL_PORT=tap   nodes drive DPDK's net_tap instead of af_packet: the tap's
#                 kernel side is bridged to the node's veth (bridge brn in
#                 the node's namespace), so the segment is the same but the
#                 port has rx interrupts and idle = interrupt can block.
#                 The client namespace then has a bridge brc over vc1 (the
#                 kernel client's address moves to it), where cl_tap_attach
#                 bridges a DPDK client's tap (catena-bench on net_tap).
#   CL_IDLE=MODE  the nodes' idle policy (default: config/nodeN.conf's).
#   CL_EAL="..."  extra EAL arguments for the nodes (e.g. --main-lcore 1).
#   CL_SECRET=F   a cluster secret file (0600) for catena-control and the
#                 nodes: the node channel is authenticated and node-to-node
#                 datagrams carry link tags. The nodes then take their first
#                 map from catena-control (link keys come with it), so
#                 cl_control_start must run before cl_start.

CL_NODES="1 2 3"
CL_CLIENT_IP=10.99.0.100
CL_PORT=${CL_PORT:-af_packet}
CL_IDLE=${CL_IDLE:-}
CL_EAL=${CL_EAL:-}
CL_SECRET=${CL_SECRET:-}
declare -gA CL_PID

# Remove what an earlier (possibly interrupted) run with this prefix left.
cl_down() {
	local n ns
	for n in $CL_NODES; do
		if [ -n "${CL_PID[$n]:-}" ] && kill -0 "${CL_PID[$n]}" 2>/dev/null; then
			kill -TERM "${CL_PID[$n]}" 2>/dev/null
			wait "${CL_PID[$n]}" 2>/dev/null
		fi
		CL_PID[$n]=
	done
	pkill -TERM -f -- "--file-prefix $CL_P-n[123] " 2>/dev/null && sleep 1
	cl_control_stop
	for ns in $CL_P-n1 $CL_P-n2 $CL_P-n3 $CL_P-c1 $CL_P-br; do
		ip netns del "$ns" 2>/dev/null
	done
	rm -f /dev/hugepages/$CL_P-n[123]map_* 2>/dev/null
	return 0
}

cl_net_up() {
	local end n f
	ip netns add $CL_P-br || return 1
	ip -n $CL_P-br link add br0 type bridge
	ip -n $CL_P-br link set br0 up
	# Bridged IPv4 must not detour through the host's iptables.
	for f in iptables ip6tables arptables; do
		ip netns exec $CL_P-br sysctl -qw net.bridge.bridge-nf-call-$f=0 2>/dev/null
	done
	for end in n1 n2 n3 c1; do
		ip netns add $CL_P-$end || return 1
		ip link add v$end netns $CL_P-$end type veth peer name b$end netns $CL_P-br
		ip -n $CL_P-br link set b$end master br0 up
		ip netns exec $CL_P-$end sysctl -qw net.ipv6.conf.all.disable_ipv6=1
		ip -n $CL_P-$end link set lo up
	done
	for n in $CL_NODES; do
		# Peers address each other by the MACs in the map (with tap,
		# the DPDK side of the tap has it; the veth is a bridge port).
		[ "$CL_PORT" = tap ] ||
			ip -n $CL_P-n$n link set vn$n address 02:ca:7e:00:00:0$n
		ip -n $CL_P-n$n link set vn$n up
	done
	ip -n $CL_P-c1 link set vc1 up
	if [ "$CL_PORT" = tap ]; then
		for end in n1 n2 n3 c1; do
			local br=brn
			[ $end = c1 ] && br=brc
			ip -n $CL_P-$end link add $br type bridge
			ip -n $CL_P-$end link set v$end master $br
			ip -n $CL_P-$end link set $br up
			for f in iptables ip6tables arptables; do
				ip netns exec $CL_P-$end sysctl -qw net.bridge.bridge-nf-call-$f=0 2>/dev/null
			done
		done
		ip -n $CL_P-c1 addr add $CL_CLIENT_IP/24 dev brc
	else
		ip -n $CL_P-c1 addr add $CL_CLIENT_IP/24 dev vc1
	fi
	# Full UDP checksums on the wire, as a real NIC delivers them: the
	# nodes verify them, and through veth a kernel socket's datagrams
	# carry an unfinished (CHECKSUM_PARTIAL) one.
	ip netns exec $CL_P-c1 ethtool -K vc1 tx off >/dev/null 2>&1 || true
}

# cl_tap_attach NS IFACE BRIDGE [PID]: wait (up to 10 s, or until PID
# exits) for the kernel side IFACE of a DPDK net_tap port to appear in
# namespace NS, then make it a port of BRIDGE there. Frames the DPDK side
# sends before that are lost, as on a cable not yet plugged in. net_tap
# gives the kernel side the DPDK port's MAC; a bridge treats its ports'
# MACs as its own and would keep frames for the node, so the kernel side
# gets another one (the DPDK side keeps the map's; net_tap does not
# filter received frames by the kernel side's MAC).
cl_tap_attach() {
	local i mac
	for i in $(seq 200); do
		if ip -n "$1" link show "$2" >/dev/null 2>&1; then
			mac=$(ip -n "$1" link show "$2" | awk '/link\/ether/ {print $2}')
			ip -n "$1" link set "$2" address "02:cb:${mac#02:??:}" &&
				ip -n "$1" link set "$2" master "$3" &&
				ip -n "$1" link set "$2" up
			return $?
		fi
		[ -n "${4:-}" ] && ! kill -0 "$4" 2>/dev/null && return 1
		sleep 0.05
	done
	echo "cluster-lib: $2 did not appear in $1" >&2
	return 1
}

# cl_control_start MAPFILE: start catena-control (file store, Unix sockets
# in $CL_TMP) with MAPFILE as its first epoch; sets CL_NODESOCK, CL_MGMT.
cl_control_start() {
	CL_NODESOCK=$CL_TMP/nodes.sock
	CL_MGMT=$CL_TMP/control.sock
	cat > "$CL_TMP/control.conf" <<CONF
[control]
state_dir = $CL_TMP/state
node_listen = unix:$CL_NODESOCK
mgmt_socket = $CL_MGMT
heartbeat_timeout_ms = 1000
initial_map = $1
CONF
	[ -n "$CL_SECRET" ] && echo "secret_file = $CL_SECRET" >> "$CL_TMP/control.conf"
	"$CL_BUILD/control/catena-control" --config "$CL_TMP/control.conf" \
		>"$CL_TMP/control.out" 2>"$CL_TMP/control.err" &
	CL_CONTROL_PID=$!
	for _ in $(seq 100); do
		[ -S "$CL_MGMT" ] && return 0
		kill -0 $CL_CONTROL_PID 2>/dev/null || break
		sleep 0.1
	done
	cat "$CL_TMP/control.err" >&2
	return 1
}

cl_control_stop() {
	[ -n "${CL_CONTROL_PID:-}" ] || return 0
	kill -TERM $CL_CONTROL_PID 2>/dev/null
	wait $CL_CONTROL_PID
	local rc=$?
	CL_CONTROL_PID=
	return $rc
}

# cl_start MAPFILE: start the three nodes on config/nodeN.conf with MAPFILE
# (as their starting map; with catena-control running, they also connect to
# it), wait until each prints its ready line. Returns non-zero (and shows
# the failing node's log) if one does not come up within 20 s.
cl_start() {
	local map=$1 repo n
	repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
	for n in $CL_NODES; do
		sed -e "s|^map = .*|map = $map|" "$repo/config/node$n.conf" > "$CL_TMP/node$n.conf"
		if [ -n "${CL_NODESOCK:-}" ]; then
			printf '\n[control]\nconnect = unix:%s\nheartbeat_ms = 100\n' \
				"$CL_NODESOCK" >> "$CL_TMP/node$n.conf"
		fi
		if [ -n "$CL_SECRET" ]; then
			# Link keys come only with catena-control's map.
			sed -i -e '/^map = /d' "$CL_TMP/node$n.conf"
			echo "secret_file = $CL_SECRET" >> "$CL_TMP/node$n.conf"
		fi
		if [ -n "$CL_IDLE" ]; then
			sed -i -e "s|^idle = .*|idle = $CL_IDLE|" "$CL_TMP/node$n.conf"
		fi
		local vdev=net_af_packet0,iface=vn$n,qpairs=1
		[ "$CL_PORT" = tap ] && vdev=net_tap0,iface=tn$n,mac=02:ca:7e:00:00:0$n
		# shellcheck disable=SC2086 # CL_EAL is a list of arguments
		ip netns exec $CL_P-n$n "$CL_BUILD/dataplane/catena-node" -l 0,1 $CL_EAL --no-pci \
			--file-prefix $CL_P-n$n --huge-unlink -m 256 --log-level 'lib.*:warning' \
			--vdev "$vdev" -- \
			--config "$CL_TMP/node$n.conf" >"$CL_TMP/node$n.out" 2>"$CL_TMP/node$n.err" &
		CL_PID[$n]=$!
	done
	if [ "$CL_PORT" = tap ]; then
		for n in $CL_NODES; do
			cl_tap_attach $CL_P-n$n tn$n brn "${CL_PID[$n]}" || {
				cat "$CL_TMP/node$n.err" >&2
				return 1
			}
		done
	fi
	for n in $CL_NODES; do
		for _ in $(seq 200); do
			grep -q 'catena-node: ready' "$CL_TMP/node$n.out" 2>/dev/null && break
			kill -0 "${CL_PID[$n]}" 2>/dev/null || break
			sleep 0.1
		done
		if ! grep -q 'catena-node: ready' "$CL_TMP/node$n.out"; then
			cat "$CL_TMP/node$n.err" >&2
			return 1
		fi
	done
}

# cl_stop: SIGTERM every node; returns non-zero if one exited non-zero.
cl_stop() {
	local n r rc=0
	for n in $CL_NODES; do
		[ -n "${CL_PID[$n]:-}" ] || continue
		kill -TERM "${CL_PID[$n]}"
		wait "${CL_PID[$n]}"
		r=$?
		CL_PID[$n]=
		[ $r = 0 ] || rc=$r
	done
	return $rc
}

# cl_tel N CMD: a telemetry command on node N, its JSON on stdout.
cl_tel() {
	echo "$2" | ip netns exec $CL_P-n$1 dpdk-telemetry.py -f $CL_P-n$1 2>/dev/null
}

# cl_quiesce: wait (up to 5 s) until no node holds writes in flight.
cl_quiesce() {
	local busy n
	for _ in $(seq 50); do
		busy=0
		for n in $CL_NODES; do
			cl_tel $n /catena/stats | grep -q '"repl_in_flight": 0' || busy=1
		done
		[ $busy = 0 ] && return 0
		sleep 0.1
	done
	return 1
}
