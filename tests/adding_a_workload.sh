#!/usr/bin/env bash
# Proves that a workload is one folder plus one line: copies the source tree, copies
# examples/workload/harmonic to workloads/harmonic, appends `tandem_workload(harmonic)` to
# workloads/CMakeLists.txt, builds, and checks that the CLI, `tandem --help`, `tandem bench`, the
# generic CLI tests and the workload's own tests all pick it up. Called by ctest.
# usage: tests/adding_a_workload.sh SOURCE_DIR WORK_DIR [extra cmake flags]
set -euo pipefail
src=$1
work=$2
shift 2
rm -rf "$work"
mkdir -p "$work/tree"
# The tracked and untracked-but-not-ignored files: what a clone with the change would hold.
(cd "$src" && git ls-files -z --cached --others --exclude-standard | xargs -0 tar cf - --ignore-failed-read 2>/dev/null) |
  (cd "$work/tree" && tar xf -)
tree=$work/tree

# The change: one folder, one line.
cp -r "$tree/examples/workload/harmonic" "$tree/workloads/harmonic"
echo "tandem_workload(harmonic)" >>"$tree/workloads/CMakeLists.txt"

cmake -S "$tree" -B "$work/build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DTANDEM_CUDA=OFF -DTANDEM_BUILD_BENCH=OFF "$@" >/dev/null
cmake --build "$work/build" -j "$(nproc)" --target tandem_cli test_harmonic test_cli >"$work/build.log" 2>&1 ||
  { tail -40 "$work/build.log"; echo "adding_a_workload: build failed" >&2; exit 1; }
tandem=$work/build/cli/tandem
fail() { echo "adding_a_workload: $*" >&2; exit 1; }

"$tandem" --help | grep -q "harmonic" || fail "tandem --help does not list harmonic"
out=$("$tandem" harmonic --n 1000003 --backend seq,threads,procs,gpu --workers 2 --repeat 2 --json 2>/dev/null)
grep -q '"agree": true' <<<"$out" || fail "tandem harmonic: backends disagree or it did not run: $out"
grep -q '"backend": "procs"' <<<"$out" || fail "tandem harmonic did not run on procs"
bench=$("$tandem" bench --quick --repeat 1 --warmup 0 --backend seq,threads --json 2>/dev/null)
grep -q '"workload": "harmonic"' <<<"$bench" || fail "tandem bench does not run harmonic"
"$work/build/workloads/harmonic/test_harmonic" --gtest_brief=1 || fail "its own tests failed"
"$work/build/tests/test_cli" --gtest_brief=1 --gtest_filter='list/cli_workload.*harmonic*' | tee "$work/cli.log"
grep -q "1 test" "$work/cli.log" || fail "the generic CLI tests did not find harmonic"
echo "adding_a_workload: OK (one folder, one line: CLI, help, bench, generic CLI tests and its own tests)"
