#!/bin/sh
# Run the deterministic chain-replication simulation over many seeds.
# usage: tests/sim/run_sim.sh [BUILD_DIR] [SEEDS] [extra catena-sim args...]
# Every failing seed prints its parameters and the command that replays it
# (catena-sim --seed S -v: the event trace goes to stderr).
set -eu
build=${1:-build}
seeds=${2:-2000}
[ $# -ge 2 ] && shift 2 || shift $#
sim="$build/tests/sim/catena-sim"
if [ ! -x "$sim" ]; then
	echo "run_sim.sh: $sim not built (ninja -C $build tests/sim/catena-sim)" >&2
	exit 2
fi
exec "$sim" --seeds "$seeds" "$@"
