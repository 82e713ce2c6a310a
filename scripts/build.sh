#!/usr/bin/env bash
# Configures and builds Tandem into build/ (or $TANDEM_BUILD_DIR). GPU support is built whenever
# nvcc is found (on PATH or in /usr/local/cuda/bin); pass extra CMake flags as arguments.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${TANDEM_BUILD_DIR:-build}
if ! command -v nvcc >/dev/null && [ -x /usr/local/cuda/bin/nvcc ]; then export PATH=/usr/local/cuda/bin:$PATH; fi
cuda=AUTO
command -v nvcc >/dev/null && cuda=ON
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DTANDEM_CUDA="$cuda" "$@" >/dev/null
cmake --build "$build" -j "$(nproc)"
