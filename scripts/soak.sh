#!/usr/bin/env bash
# catena soak: the nemesis test (tests/integration/test_soak_nemesis.py) for
# longer than CI runs it. Random faults (kill -9 and restart, partitions,
# loss, duplication, delay, control-plane restarts, live slot moves) under
# concurrent clients; afterwards no acknowledged write lost, every history
# linearizable, replicas equal. Prints its seed and the command that replays
# it.
#
#   scripts/soak.sh [SECONDS] [SEED]      (root; defaults: 600, from the clock)
set -uo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bash "$REPO/scripts/setup.sh" || exit 1
export CATENA_BUILD=${CATENA_BUILD:-$REPO/build}
export CATENA_SOAK_SECONDS=${1:-600}
[ -n "${2:-}" ] && export CATENA_SOAK_SEED=$2
cd "$REPO" && exec /usr/bin/python3 -m pytest -q -s -p no:cacheprovider \
	tests/integration/test_soak_nemesis.py
