#!/usr/bin/env bash
# Line coverage of kernels/ and host/ reached by the CPU tests (gcov + gcovr), in a separate
# build: build-coverage/coverage.txt and the summary on stdout. Host code is instrumented; CUDA
# sources are built (for one architecture, to save time) but gcov cannot see device code, which
# is why device logic lives in host/device headers that the CPU tests cover.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v nvcc >/dev/null && [ -x /usr/local/cuda/bin/nvcc ]; then export PATH=/usr/local/cuda/bin:$PATH; fi
scripts/deps.sh test
build=build-coverage
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DTANDEM_CUDA=AUTO -DTANDEM_CUDA_ARCHITECTURES=75-real -DTANDEM_COVERAGE=ON -DTANDEM_BUILD_BENCH=OFF >/dev/null
cmake --build "$build" -j "$(nproc)"
find "$build" -name '*.gcda' -delete
ctest --test-dir "$build" -j "$(nproc)" -E embed_example >/dev/null || { echo "coverage: tests failed" >&2; exit 1; }
gcovr -r . --object-directory "$build" -f 'kernels/' -f 'host/' -e '.*\.cu$' --gcov-ignore-parse-errors --txt "$build/coverage.txt" --print-summary
