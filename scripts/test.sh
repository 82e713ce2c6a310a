#!/usr/bin/env bash
# Builds everything (CUDA included when nvcc is present) and runs every test. GPU tests are
# reported as skipped, by name, on a machine without a CUDA device.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh test
scripts/build.sh
ctest --test-dir "${TANDEM_BUILD_DIR:-build}" --output-on-failure -j "$(nproc)"
