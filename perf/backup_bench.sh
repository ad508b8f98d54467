#!/usr/bin/env bash
# Backup and restore, measured: three catena-nodes and catena-control on a
# namespace bridge (scripts/cluster-lib.sh), three rotated chains.
# catena-udp-bench preloads KEYS keys of 100-byte values and runs a mixed
# load (80% GET, 20% PUT, window 8) before and during `catenactl backup`
# (at its default rate, 32 MiB/s in all, and again with --rate 0), then
# `catenactl restore --force` of the file into the same cluster (no load).
#
#   perf/backup_bench.sh [BUILD_DIR] [SECONDS] [KEYS]  (root; ./build, 4, 100000)
#
# Prints the load's throughput and latency per phase, each backup's wall
# time, keys and bytes, the restore's, and the file's size. Raw JSON lines
# go to BUILD_DIR/backup_bench.json. A 2-core VM whose nodes share cores
# with the client measures that setup, not NIC hardware.
set -uo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CL_BUILD=$(cd "${1:-$REPO/build}" && pwd)
SECS=${2:-4}
KEYS=${3:-100000}
CL_P=catbkb
CL_TMP=$(mktemp -d /tmp/catena-backupbench.XXXXXX)
# shellcheck source=scripts/cluster-lib.sh
. "$REPO/scripts/cluster-lib.sh"
OUT=$CL_BUILD/backup_bench.json
CTL="$CL_BUILD/control/catenactl"

trap 'cl_down; rm -rf "$CL_TMP"' EXIT
trap 'exit 130' INT TERM HUP PIPE

bench() { # bench PHASE SECONDS [--no-preload]
	ip netns exec $CL_P-c1 "$CL_BUILD/perf/catena-udp-bench" -H 10.99.0.1 \
		-d "$2" -w 8 -k "$KEYS" -v 100 -r 80 --json ${3:-} \
		| sed "s/^{/{\"phase\":\"$1\",/"
}

# backup_during PHASE [--rate N]: the load runs SECS seconds, the backup
# starts after 0.5 s; its final status goes to OUT as {"job":...}.
backup_during() {
	local phase=$1
	shift
	rm -f "$CL_TMP/b.bak"
	bench "$phase" "$SECS" --no-preload >> "$OUT" &
	local b=$!
	sleep 0.5
	local t0 t1
	t0=$(date +%s.%N)
	"$CTL" -s "$CL_MGMT" --json backup "$CL_TMP/b.bak" "$@" > "$CL_TMP/st.json" ||
		echo "backup_bench: backup failed ($phase)" >&2
	t1=$(date +%s.%N)
	wait $b || echo "backup_bench: load failed ($phase)" >&2
	/usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); d["wall_s"]=float(sys.argv[3])-float(sys.argv[2]); d["phase"]=sys.argv[4]; d["file_bytes"]=int(sys.argv[5]); print(json.dumps(d))' \
		"$CL_TMP/st.json" "$t0" "$t1" "$phase-job" "$(stat -c %s "$CL_TMP/b.bak" 2>/dev/null || echo 0)" >> "$OUT"
}

cl_down
cl_net_up || { echo "backup_bench: cannot create namespaces (root?)" >&2; exit 1; }
cat > "$CL_TMP/three.map" <<MAP
epoch 1
slots 1024
craq off
node 1 10.99.0.1 02:ca:7e:00:00:01
node 2 10.99.0.2 02:ca:7e:00:00:02
node 3 10.99.0.3 02:ca:7e:00:00:03
chain 1 1 2 3
chain 2 2 3 1
chain 3 3 1 2
assign all roundrobin
MAP
cl_control_start "$CL_TMP/three.map" || { echo "backup_bench: catena-control did not start" >&2; exit 1; }
cl_start "$CL_TMP/three.map" || { echo "backup_bench: nodes did not start" >&2; exit 1; }

: > "$OUT"
echo "warm-up: preloading $KEYS keys, 2 s of load (not reported)..." >&2
bench warmup 2 > /dev/null || echo "backup_bench: warm-up failed" >&2
echo "no backup: ${SECS}s..." >&2
bench before "$SECS" --no-preload >> "$OUT" || echo "backup_bench: run failed (before)" >&2
echo "backup at the default rate during the load: ${SECS}s..." >&2
backup_during during
echo "backup at --rate 0 during the load: ${SECS}s..." >&2
backup_during during0 --rate 0
cp "$CL_TMP/b.bak" "$CL_TMP/keep.bak"
t0=$(date +%s.%N)
"$CTL" -s "$CL_MGMT" --json restore "$CL_TMP/keep.bak" --force > "$CL_TMP/rs.json" ||
	echo "backup_bench: restore failed" >&2
t1=$(date +%s.%N)
/usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); d["wall_s"]=float(sys.argv[3])-float(sys.argv[2]); d["phase"]="restore-job"; print(json.dumps(d))' \
	"$CL_TMP/rs.json" "$t0" "$t1" >> "$OUT"
"$CTL" -s "$CL_MGMT" backup --verify "$CL_TMP/keep.bak" >&2
cl_stop || echo "backup_bench: a node exited non-zero" >&2

/usr/bin/python3 - "$OUT" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
print("phase      ops/s      p50 us   p99 us   p99.9 us  retrans  errors")
for r in rows:
    if "lat_us" not in r:
        continue
    lat = r["lat_us"]
    print(f"{r['phase']:<9} {r['ops_per_sec']:>8.0f}  {lat['p50']:>8.1f} {lat['p99']:>8.1f}"
          f" {lat['p999']:>10.1f} {r['retransmits']:>8} {r['error_replies']:>7}")
for r in rows:
    if r.get("phase", "").endswith("-job"):
        j = r.get("restore", r)
        extra = ""
        if "verify" in r:
            extra = f", verify: {r['verify']['slots_checked']} slots checked, {r['verify']['differ_count']} differ"
        else:
            extra = (f", rate {j.get('rate')} B/s, walked {j.get('walked')}, replayed "
                     f"{j.get('replayed')}, retries {j.get('retries')}, file {r.get('file_bytes')} B")
        print(f"{r['phase']:<13} {j['state']}: {j['slots_done']} slots, {j['keys']} keys, "
              f"{j['bytes']} B in {r['wall_s']:.2f} s wall ({j['bytes'] / r['wall_s'] / 1e6:.1f} MB/s){extra}")
print(f"(raw: {sys.argv[1]})")
PY
