#!/usr/bin/env bash
# Line coverage of kernels/ and host/ reached by the CPU tests (gcov + gcovr), in a separate
# build without CUDA (which CI thereby also proves builds and passes): build-coverage/coverage.txt
# and the summary on stdout. gcov cannot see device code anyway, which is why device logic lives
# in host/device headers that the CPU tests cover.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh test
build=build-coverage
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DTANDEM_CUDA=OFF -DTANDEM_COVERAGE=ON -DTANDEM_BUILD_BENCH=OFF >/dev/null
cmake --build "$build" -j "$(nproc)"
find "$build" -name '*.gcda' -delete
# The embed example links the instrumented library into an uninstrumented program: skip it here.
ctest --test-dir "$build" -j "$(nproc)" --output-on-failure -E embed_example >"$build/ctest.log" ||
  { cat "$build/ctest.log"; echo "coverage: tests failed" >&2; exit 1; }
grep "tests passed" "$build/ctest.log"
gcovr -r . --object-directory "$build" -f 'kernels/' -f 'host/' -e '.*\.cu$' --gcov-ignore-parse-errors --txt "$build/coverage.txt" --print-summary
