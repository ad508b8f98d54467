#!/bin/sh
# Fuzz the cluster map parser with libFuzzer for a bounded time.
#   tests/fuzz/run_fuzz_map.sh [SECONDS]        (default 30)
# Builds tests/fuzz/fuzz_map.c + replication/map.c + replication/hash.c
# with clang-14 -fsanitize=fuzzer,address,undefined directly (not through
# meson, whose gcc build has no libFuzzer), starts from the seed corpus in
# tests/fuzz/corpus/map (read only: new inputs go to a scratch corpus), and
# exits non-zero if the fuzzer found a crash, leak or sanitizer report. The
# crashing input is copied to tests/fuzz/crashes/ for replay with fuzz-replay.
# Environment: CLANG (default clang-14), FUZZ_WORK (scratch dir, default a
# fresh mktemp dir, kept for inspection), FUZZ_JOBS is not used: one process.
set -eu

secs=${1:-30}
case $secs in
''|*[!0-9]*) echo "usage: $0 [SECONDS]" >&2; exit 64 ;;
esac

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
clang=${CLANG:-clang-14}
work=${FUZZ_WORK:-$(mktemp -d /tmp/catena-fuzz-map.XXXXXX)}
mkdir -p "$work/corpus" "$work/artifacts"

# UBSan findings must stop the run like ASan's do, or they scroll past.
"$clang" -g -O1 -fno-omit-frame-pointer \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	-D_GNU_SOURCE -D_LGPL_SOURCE -I"$root" \
	"$here/fuzz_map.c" "$root/replication/map.c" "$root/replication/hash.c" \
	-o "$work/fuzz-map"

# The format's keywords and separators, so mutations reach the directive
# handlers instead of stopping at "unknown directive".
cat >"$work/map.dict" <<'EOF'
"epoch "
"slots "
"craq "
"on"
"off"
"node "
"chain "
"assign "
"all"
"roundrobin"
"#"
"\x0a"
"\x0d\x0a"
"\x09"
"-"
":"
"."
"02:ca:7e:00:00:01"
"10.99.0.1"
":7470"
"65536"
"65535"
"4294967295"
EOF

echo "run_fuzz: fuzzing for ${secs}s, scratch dir $work" >&2
set +e
"$work/fuzz-map" -max_total_time="$secs" -print_final_stats=1 \
	-timeout=10 -rss_limit_mb=2048 -max_len=8192 -dict="$work/map.dict" \
	-artifact_prefix="$work/artifacts/" \
	"$work/corpus" "$here/corpus/map" 2>"$work/fuzz.log"
rc=$?
set -e

# A one-line summary: runs, time, exec/s, coverage, corpus size.
runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/fuzz.log" | tail -1)
eps=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$work/fuzz.log" | tail -1)
cov=$(grep -o 'cov: [0-9]*' "$work/fuzz.log" | tail -1 | cut -d' ' -f2)
ncorp=$(ls "$work/corpus" | wc -l)
echo "run_fuzz: runs=${runs:-?} exec/s=${eps:-?} cov=${cov:-?} new_corpus_files=$ncorp exit=$rc"

crashes=$(ls "$work/artifacts" 2>/dev/null | wc -l)
if [ "$rc" -ne 0 ] || [ "$crashes" -ne 0 ]; then
	mkdir -p "$here/crashes"
	for f in "$work/artifacts"/*; do
		[ -e "$f" ] || continue
		cp "$f" "$here/crashes/"
		echo "run_fuzz: saved $here/crashes/$(basename "$f")" >&2
	done
	grep -E 'ERROR|SUMMARY|fuzz_map:|runtime error' "$work/fuzz.log" | head -20 >&2
	echo "run_fuzz: FAILED (full log: $work/fuzz.log)" >&2
	exit 1
fi
echo "run_fuzz: no crash (log: $work/fuzz.log)"
