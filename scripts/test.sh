#!/usr/bin/env bash
# catena: the whole test suite. Installs and builds what it needs (via
# scripts/setup.sh), then runs, in order:
#   1. unit tests (cmocka) and the fuzz corpus replay (meson test), release
#      build (./build)
#   2. unit, stress and simulation tests again under ASan+UBSan
#      (build-asan); unit and stress tests under valgrind; the stress tests
#      (RCU store, hand-over rings) under ThreadSanitizer
#   3. the libFuzzer targets (wire, map, repl, config, mgmt, nodechan) for a bounded
#      time each (CATENA_FUZZ_SECONDS, 10; six targets)
#   4. the integration tests (pytest: real catena-node, catena-control,
#      catenactl and catena-cli processes in network namespaces, kernel UDP
#      clients), ALL of them against the ASan+UBSan build: a sanitizer
#      report from any process a test started fails that test
#      (tests/integration/sanitizer.py)
#   5. a smoke subset of the integration tests against the release build
#      (the binaries scripts/demo.sh and users run, on the demo's path:
#      catena-control, three nodes, catenactl, catena-cli, telemetry), so
#      the release binaries are still tested end to end
# and ends with one line: `N passed, N failed[, N skipped]` over every test
# case that ran; a test that ran in both 4 and 5 counts twice (separate
# JUnit files). Exit status 0 only if nothing failed. Why the full suite
# runs under ASan and only a subset on release, and what that costs in
# time: docs/HARDENING.md, "Sanitizers".
#
#   scripts/test.sh [pytest args...]      e.g. scripts/test.sh -k cas
#                                         (to both integration steps)
set -uo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export CATENA_BUILD=${CATENA_BUILD:-$REPO/build}
ASAN_BUILD=${CATENA_ASAN_BUILD:-$REPO/build-asan}
TSAN_BUILD=${CATENA_TSAN_BUILD:-$REPO/build-tsan}
RESULTS=$CATENA_BUILD/test-results
PY=/usr/bin/python3
# Sanitizer findings fail the test that triggered them, never just a log line.
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export ASAN_OPTIONS=detect_leaks=1

bash "$REPO/scripts/setup.sh" || { echo "0 passed, 1 failed"; exit 1; }
rm -rf "$RESULTS"
mkdir -p "$RESULTS"

# Each step says when it began (since this script started), to keep the suite's time in view.
step() { printf '\n=== %s (at %d:%02d) ===\n' "$*" $((SECONDS / 60)) $((SECONDS % 60)); }

step "unit tests, fuzz corpora, deterministic simulation: 2000 seeds (meson test)"
meson test -C "$CATENA_BUILD" --suite unit --suite fuzz --suite sim --print-errorlogs \
	--logbase unit
cp "$CATENA_BUILD/meson-logs/unit.json" "$RESULTS/unit.json" 2>/dev/null
# The simulator's own summary (seeds, faults injected, failures replayable).
$PY -c 'import json, sys
for line in open(sys.argv[1]):
    t = json.loads(line)
    if t["name"].startswith("catena:sim"):
        print((t.get("stdout") or "").strip())' "$RESULTS/unit.json" 2>/dev/null

step "unit, stress and simulation (2000 seeds) under AddressSanitizer+UBSan, then under valgrind"
if [ ! -f "$ASAN_BUILD/build.ninja" ]; then
	meson setup "$ASAN_BUILD" "$REPO" -Db_sanitize=address,undefined \
		-Db_lundef=false >/dev/null
fi
# Everything is built here: the unit, stress and simulation tests now, and
# catena-node, catena-control, catenactl, catena-cli and the benchmarks for
# the integration tests later (about 40 s on two cores from scratch). The
# simulator's 2000 seeds take about 7 s under ASan: all of them run. A
# build dir from an earlier run regenerates first (new tests, new files),
# and last run's results never stand in for this one's.
rm -f "$ASAN_BUILD/meson-logs/asan.json"
asan_built=0
if ninja -C "$ASAN_BUILD" >"$ASAN_BUILD/ninja.log" 2>&1; then
	asan_built=1
	meson test -C "$ASAN_BUILD" --no-rebuild --suite unit --suite stress \
		--suite sim --print-errorlogs --logbase asan
else
	tail -n 40 "$ASAN_BUILD/ninja.log"
	echo "asan-build FAIL" >> "$RESULTS/extra.txt" # counted, never silent
fi
cp "$ASAN_BUILD/meson-logs/asan.json" "$RESULTS/asan.json" 2>/dev/null
meson test -C "$CATENA_BUILD" --no-rebuild --setup valgrind --suite unit \
	--suite stress --no-suite python --print-errorlogs --logbase valgrind
cp "$CATENA_BUILD/meson-logs/valgrind-valgrind.json" "$RESULTS/valgrind.json" 2>/dev/null

step "stress tests (RCU store, hand-over rings) under ThreadSanitizer"
if [ ! -f "$TSAN_BUILD/build.ninja" ]; then
	meson setup "$TSAN_BUILD" "$REPO" -Db_sanitize=thread -Db_lundef=false \
		>/dev/null
fi
ninja -C "$TSAN_BUILD" build.ninja >/dev/null 2>&1
rm -f "$TSAN_BUILD/meson-logs/tsan.json"
tsan_targets=$(meson introspect --tests "$TSAN_BUILD" | $PY -c '
import json, os, sys
b = sys.argv[1]
for t in json.load(sys.stdin):
    if "catena:stress" in t["suite"]:
        print(os.path.relpath(t["cmd"][0], b))' "$TSAN_BUILD")
# liburcu is not built with TSan: tests/unit/tsan.supp lists its false
# positives, replication/store.c annotates the rest. Each suppressed
# report (every item freed after a grace period) would otherwise be
# searched against every earlier racy address (suppress_equal_addresses),
# which made the run quadratic: 50000 ops took over 5 minutes, the full
# 1000000 now take ~11 s. It only de-duplicates output; halt_on_error
# stops at the first real report either way.
ninja -C "$TSAN_BUILD" $tsan_targets >/dev/null \
	&& TSAN_OPTIONS="halt_on_error=1:suppress_equal_addresses=0:suppressions=$REPO/tests/unit/tsan.supp" \
	   meson test -C "$TSAN_BUILD" --no-rebuild --suite stress \
		--num-processes 1 --print-errorlogs --logbase tsan
cp "$TSAN_BUILD/meson-logs/tsan.json" "$RESULTS/tsan.json" 2>/dev/null

step "libFuzzer: wire decoder, map parser, chain engine, config loaders, management requests, node channel, disk log records; ${CATENA_FUZZ_SECONDS:-6}s each (ASan+UBSan)"
# Every check outside cmocka/pytest records one line "<name> PASS|FAIL".
for t in wire map repl config mgmt nodechan dlog backup linkauth; do
	if bash "$REPO/tests/fuzz/run_fuzz.sh" $t "${CATENA_FUZZ_SECONDS:-6}"; then
		echo "libfuzzer-$t PASS" >> "$RESULTS/extra.txt"
	else
		echo "libfuzzer-$t FAIL" >> "$RESULTS/extra.txt"
	fi
done

step "integration tests (pytest, network namespaces), all of them against the ASan+UBSan build"
# ASAN_OPTIONS and UBSAN_OPTIONS for the processes the tests start are
# set by tests/integration/sanitizer.py (on top of the ones above): ASan's
# reports go to a log directory, UBSan's stay on stderr, and either fails
# the test whose process printed it, whatever its exit status.
if [ "$asan_built" = 1 ]; then
	(cd "$REPO" && CATENA_BUILD=$ASAN_BUILD $PY -m pytest tests/integration \
		-q -p no:cacheprovider --junitxml="$RESULTS/integration-asan.xml" "$@")
else
	echo "build-asan did not build: integration tests under ASan NOT RUN (counted as a failure above)"
fi

step "integration smoke tests against the release build"
# The release binaries end to end, on the path scripts/demo.sh shows:
# catena-control with three nodes on the three-chain map, catenactl
# status/chains/verify, catena-cli operations, telemetry. About 30 s; every
# test here also ran under ASan in the step above, where the rest of the
# suite (failures, partitions, resharding, install, benchmark) runs.
(cd "$REPO" && $PY -m pytest -q -p no:cacheprovider \
	--junitxml="$RESULTS/integration.xml" "$@" \
	tests/integration/test_control_catenactl.py \
	tests/integration/test_cluster_three_chains.py \
	tests/integration/test_node_cli.py \
	tests/integration/test_node_telemetry.py)

step "summary"
$PY "$REPO/scripts/test_summary.py" "$RESULTS"
