#!/usr/bin/env bash
# The concurrency tests under ThreadSanitizer, in the plain CPU-only build (build-tsan/: no CUDA, no
# GPU emulation; CI thereby proves that build compiles): the thread pool,
# the execution model across backends, and the workloads on the thread pool.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh test
build=build-tsan
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTANDEM_CUDA=OFF -DTANDEM_GPU_EMULATION=OFF -DTANDEM_SANITIZER=thread \
  -DTANDEM_BUILD_BENCH=OFF >/dev/null
cmake --build "$build" -j "$(nproc)" --target test_thread_pool test_execution_model test_tasks
export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1"
"$build/tests/test_thread_pool" --gtest_brief=1 --gtest_repeat=5
"$build/tests/test_execution_model" --gtest_brief=1 --gtest_filter='*seq*:*threads*:chunk_plan.*:executors.*'
"$build/workloads/tasks/test_tasks" --gtest_brief=1 --gtest_filter='*/seq:*/threads'
echo "sanitize: ThreadSanitizer found no race"
