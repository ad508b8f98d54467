#!/bin/sh
# Fuzz one of catena's parsers with libFuzzer for a bounded time.
#   tests/fuzz/run_fuzz.sh TARGET [SECONDS]   (default 30 s)
# wire:   the message decoder, request checks and replication message codecs
#         (fuzz_wire.c, corpus/wire);
# map:    the cluster map parser and formatter (fuzz_map.c, corpus/map, with
#         map.dict so mutations reach the directive handlers);
# repl:   replication messages into a 3-node chain engine (fuzz_repl.c);
# config: catena-node's and catena-control's config loaders (fuzz_config.c,
#         config.dict);
# mgmt:   one management socket request (fuzz_mgmt.c, mgmt.dict);
# nodechan: one node connection's lines into catena-control, with and
#         without the cluster secret (fuzz_nodechan.c, nodechan.dict).
# Builds the target with clang-14 -fsanitize=fuzzer,address,undefined directly
# (not through meson, whose gcc build has no libFuzzer), starts from the seed
# corpus (read only: new inputs go to a scratch corpus), and exits non-zero if
# the fuzzer found a crash, leak or sanitizer report. The crashing input is
# copied to tests/fuzz/crashes/ for replay with the fuzz-replay executables.
# Environment: CLANG (default clang-14), FUZZ_WORK (scratch dir, default a
# fresh mktemp dir, kept for inspection).
set -eu

target=${1:-}
secs=${2:-30}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
usage="usage: $0 wire|map|repl|config|mgmt|nodechan [SECONDS]"
# Every replication/ source: the library has no program of its own, and a
# list kept by hand missed each new file (lease.c, then hist.c).
# chanauth.c is not part of the library (its own target, libcrypto): the
# targets that need it name it.
repl_srcs=$(cd "$root" && for f in replication/*.c; do
	[ "$f" = replication/chanauth.c ] || printf '%s ' "$f"; done)
libs=
case $target in
wire) srcs="replication/wire.c replication/wire_repl.c replication/hash.c"; maxlen=4096 ;;
map)  srcs="replication/map.c replication/hash.c"; maxlen=8192 ;;
repl) srcs=$repl_srcs; maxlen=8192
      libs=$(pkg-config --libs liburcu-qsbr liburcu-cds) ;;
config)
      # config.c needs only rte_cfgfile (no EAL), the [control] connect
      # parser (endpoint.c) and the steering names (portplan.c); nothing
      # but the parsers runs.
      srcs="control/ctl_config.c control/err.c replication/chanauth.c dataplane/config.c
            dataplane/endpoint.c dataplane/portplan.c $repl_srcs"
      maxlen=4096
      libs="$(pkg-config --libs libdpdk jansson liburcu-qsbr liburcu-cds libcrypto)"
      cflags_extra=$(pkg-config --cflags libdpdk) ;;
mgmt|nodechan)
      # catena-control's library: every control/ source but the two
      # programs' own (catena-control's main, catenactl).
      srcs="$repl_srcs replication/chanauth.c tests/fuzz/ctl_fixture.c"
      for f in "$root"/control/*.c; do
	      case ${f##*/} in
	      control_main.c|catenactl*.c) ;;
	      *) srcs="$srcs control/${f##*/}" ;;
	      esac
      done
      maxlen=4096
      libs="$(pkg-config --libs jansson libcurl libmicrohttpd liburcu-qsbr liburcu-cds libcrypto)" ;;
*) echo "$usage" >&2; exit 64 ;;
esac
case $secs in
''|*[!0-9]*) echo "$usage" >&2; exit 64 ;;
esac

clang=${CLANG:-clang-14}
work=${FUZZ_WORK:-$(mktemp -d /tmp/catena-fuzz-$target.XXXXXX)}
mkdir -p "$work/corpus" "$work/artifacts"

set --
for s in $srcs; do set -- "$@" "$root/$s"; done
# UBSan findings must stop the run like ASan's do, or they scroll past.
"$clang" -g -O1 -fno-omit-frame-pointer \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	-D_GNU_SOURCE -D_LGPL_SOURCE -I"$root" ${cflags_extra:-} \
	"$here/fuzz_$target.c" "$@" -o "$work/fuzz-$target" $libs

dict=
[ -f "$here/$target.dict" ] && dict="-dict=$here/$target.dict"

echo "run_fuzz: fuzzing $target for ${secs}s, scratch dir $work" >&2
set +e
# shellcheck disable=SC2086
"$work/fuzz-$target" -max_total_time="$secs" -print_final_stats=1 \
	-timeout=10 -rss_limit_mb=2048 -max_len=$maxlen $dict \
	-artifact_prefix="$work/artifacts/" \
	"$work/corpus" "$here/corpus/$target" 2>"$work/fuzz.log"
rc=$?
set -e

# A one-line summary: runs, time, exec/s, coverage, corpus size.
runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/fuzz.log" | tail -1)
eps=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$work/fuzz.log" | tail -1)
cov=$(grep -o 'cov: [0-9]*' "$work/fuzz.log" | tail -1 | cut -d' ' -f2)
ncorp=$(ls "$work/corpus" | wc -l)
echo "run_fuzz: $target runs=${runs:-?} exec/s=${eps:-?} cov=${cov:-?} new_corpus_files=$ncorp exit=$rc"

crashes=$(ls "$work/artifacts" 2>/dev/null | wc -l)
if [ "$rc" -ne 0 ] || [ "$crashes" -ne 0 ]; then
	mkdir -p "$here/crashes"
	for f in "$work/artifacts"/*; do
		[ -e "$f" ] || continue
		cp "$f" "$here/crashes/"
		echo "run_fuzz: saved $here/crashes/$(basename "$f")" >&2
	done
	grep -E "ERROR|SUMMARY|fuzz_$target:|runtime error" "$work/fuzz.log" | head -20 >&2
	echo "run_fuzz: FAILED (full log: $work/fuzz.log)" >&2
	exit 1
fi
echo "run_fuzz: no crash (log: $work/fuzz.log)"
