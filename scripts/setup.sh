#!/usr/bin/env bash
# catena set-up: installs the Debian packages catena needs, reserves and
# mounts hugepages, and builds everything into ./build. Idempotent: a second
# run only rebuilds what changed. Needs root (apt, sysfs, mount).
#
#   scripts/setup.sh [--no-build]
#
# Environment: CATENA_HUGEPAGES (2 MiB pages to reserve, default 1024 =
# 2 GiB: three nodes and a load generator at 256-512 MiB each),
# CATENA_BUILD (build dir, default <repo>/build).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${CATENA_BUILD:-$REPO/build}
PAGES=${CATENA_HUGEPAGES:-1024}

log() { printf 'setup: %s\n' "$*" >&2; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root (apt-get, hugepages, network namespaces)"

# Debian package names, one per need:
PKGS=(
	build-essential pkg-config meson ninja-build   # build
	libdpdk-dev dpdk dpdk-dev                      # DPDK + dpdk-telemetry.py, dpdk-dumpcap
	liburcu-dev                                    # RCU hash tables (cds_lfht, QSBR)
	libjansson-dev                                 # JSON: control channel, management socket
	libcmocka-dev                                  # unit tests
	libbenchmark-dev                               # perf/ microbenchmarks
	python3 python3-pytest                         # integration tests
	clang libclang-rt-14-dev                       # libFuzzer targets
	iproute2 nftables iputils-ping iputils-arping ethtool  # test topology, faults, ping
	valgrind                                       # leak checks
	etcd-server                                    # catena-control store = etcd (integration test)
	libcurl4-openssl-dev                           # catena-control etcd backend: HTTP to etcd's JSON gateway
	libsodium-dev                                  # base64 of backup records on the node channel
	libssl-dev                                     # HMAC-SHA256 of the node channel (cluster secret)
	libsodium-dev                                  # link tags between nodes: SipHash, KDF, sealed link keys
	libmicrohttpd-dev                              # catena-control's Prometheus endpoint (metrics_listen)
	libsystemd-dev                                 # sd_notify: Type=notify units, READY=1 at the ready line
	prometheus                                     # integration test: a real server scrapes it; promtool checks the alert rules
	redis-server redis-tools memcached libmemcached-tools  # perf/compare.sh: the peer systems
	gnuplot-nox                                    # perf/plot.sh: latency plots
)

missing=()
for p in "${PKGS[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	log "installing: ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq || die "apt-get update failed"
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
		|| die "apt-get install failed for: ${missing[*]}"
else
	log "packages: all present"
fi

# Hugepages: DPDK's mempools live there. 2 MiB pages, reserved through sysfs
# (dpdk-hugepages.py does the same; sysfs keeps this script dependency-free).
cur=$(cat /proc/sys/vm/nr_hugepages)
if [ "$cur" -lt "$PAGES" ]; then
	echo "$PAGES" > /proc/sys/vm/nr_hugepages || true
	cur=$(cat /proc/sys/vm/nr_hugepages)
	[ "$cur" -ge "$PAGES" ] || log "warning: asked for $PAGES hugepages, kernel gave $cur (memory fragmented?)"
fi
if ! grep -qs ' /dev/hugepages hugetlbfs ' /proc/mounts; then
	mkdir -p /dev/hugepages
	mount -t hugetlbfs nodev /dev/hugepages || die "cannot mount hugetlbfs on /dev/hugepages"
fi
log "hugepages: $cur x 2 MiB reserved, hugetlbfs at /dev/hugepages"

if [ "${1:-}" != "--no-build" ]; then
	if [ ! -f "$BUILD/build.ninja" ]; then
		meson setup "$BUILD" "$REPO" >/dev/null || die "meson setup failed (see $BUILD/meson-logs/meson-log.txt)"
	fi
	ninja -C "$BUILD" >/dev/null || { ninja -C "$BUILD"; die "build failed"; }
	log "built into $BUILD"
fi
