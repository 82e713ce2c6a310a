#!/usr/bin/env bash
# Builds Tandem and runs the main job: `tandem bench`, every workload on every backend over the
# default ladder of sizes on built-in data, with the peers (Python pools, NumPy, scikit-learn,
# XGBoost, OpenBLAS, grep, QuantLib) beside it when ../shared/peers is there. Writes the report as
# bench-report.html (charts, one self-contained page) and bench-report.json in the current folder
# (TANDEM_BENCH_REPORT=PREFIX to change). Extra arguments go to `tandem bench` (e.g. --quick).
set -euo pipefail
here=$(pwd)
cd "$(dirname "$0")/.."
scripts/deps.sh bench
scripts/build.sh
peers=()
[ -d ../shared/peers ] && peers=(--peers ../shared/peers)
prefix=${TANDEM_BENCH_REPORT:-$here/bench-report}
case "$prefix" in /*) ;; *) prefix=$here/$prefix ;; esac
"${TANDEM_BUILD_DIR:-build}"/cli/tandem bench "${peers[@]}" --html "$prefix.html" --out "$prefix.json" "$@"
echo "bench: report written to $prefix.html and $prefix.json" >&2
