#!/usr/bin/env bash
# Builds Tandem and runs the main job: `tandem bench`, every workload on every backend on
# built-in data, with the peers (Python pools, NumPy, QuantLib) beside it when ../shared/peers
# is there. Extra arguments go to `tandem bench` (e.g. --quick, --json).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh bench
scripts/build.sh
peers=()
[ -d ../shared/peers ] && peers=(--peers ../shared/peers)
"${TANDEM_BUILD_DIR:-build}"/cli/tandem bench "${peers[@]}" "$@"
