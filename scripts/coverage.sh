#!/usr/bin/env bash
# Line coverage (gcov + gcovr) in a separate build without CUDA but with the GPU emulation on
# (build-coverage/): the workloads' .cu files are compiled as C++ against Thrust's host system and
# the tests run them through the emulated gpu backend, so the GPU code's orchestration is covered
# along with kernels/ and host/. Two summaries: everything (build-coverage/coverage.txt), then the
# GPU code alone (workloads/*/*.cu and the emulated context; build-coverage/coverage-gpu.txt).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh test
build=build-coverage
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DTANDEM_CUDA=OFF -DTANDEM_GPU_EMULATION=ON \
  -DTANDEM_COVERAGE=ON -DTANDEM_BUILD_BENCH=OFF >/dev/null
cmake --build "$build" -j "$(nproc)"
find "$build" -name '*.gcda' -delete
# The embed example links the instrumented library into an uninstrumented program, and
# adding_a_workload builds its own copy of the tree: scripts/test.sh runs both; skip them here.
exclude='embed_example|adding_a_workload'
# libgcov's own messages (a .gcda it cannot merge, e.g. one left truncated by a process a test
# killed while it wrote) go to a file, not into the stderr the tests read line by line.
GCOV_ERROR_FILE="$PWD/$build/gcov-errors.log" \
  ctest --test-dir "$build" -j "$(nproc)" --output-on-failure -E "$exclude" >"$build/ctest.log" ||
  { cat "$build/ctest.log"; echo "coverage: tests failed" >&2; exit 1; }
grep "tests passed" "$build/ctest.log"
gcovr -r . --object-directory "$build" -f 'kernels/' -f 'host/' -f 'workloads/' -e '.*/test_.*' -e '.*/bench_.*' \
  --gcov-ignore-parse-errors --txt "$build/coverage.txt" --print-summary
echo "coverage of the GPU code (run on the host through the emulated gpu backend):"
gcovr -r . --object-directory "$build" -f 'workloads/.*/.*\.cu$' -f 'host/src/gpu/.*emulated.*\.cpp$' \
  --gcov-ignore-parse-errors --txt "$build/coverage-gpu.txt" --print-summary
