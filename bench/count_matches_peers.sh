#!/bin/bash
# tandem reduce --op count-matches against grep -c -F on a generated log, in one run, interleaved.
#
#   bench/count_matches_peers.sh BUILD_DIR [LINES] [ROUNDS]
# BUILD_DIR: a build with benchmarks (bench_count_matches, cli/tandem). LINES: log lines (default
# 12,800,000: 1.0 GB). The log is generated once (workloads/reduce/count_matches_log.cpp, the
# same bytes for the same LINES) into ${TMPDIR:-/tmp} and read once to put it in the page cache;
# every figure is then a whole process on a cached file, the median of ROUNDS (default 7) rounds in
# which each command runs once, in turn, so a noisy machine moves all of them alike.
set -euo pipefail
build=${1:?usage: count_matches_peers.sh BUILD_DIR [LINES] [ROUNDS]}
lines=${2:-12800000}
rounds=${3:-7}
tandem=$build/cli/tandem
log=${TMPDIR:-/tmp}/tandem_count_matches_$lines.log
[ -s "$log" ] || "$build/workloads/reduce/bench_count_matches" --make-log "$log" "$lines"
cat "$log" > /dev/null
bytes=$(stat -c %s "$log")

echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) logical cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "grep: $(grep --version | head -1); default locale: ${LC_ALL:-${LANG:-unset}}"
echo "log: $log, $bytes bytes, $lines lines"
echo "tandem SIMD: ${TANDEM_COUNT_MATCHES_SIMD:-best} ($("$tandem" reduce --op count-matches --pattern ERROR --input "$log" --backend seq --repeat 1 --warmup 0 --json | grep -o '"simd": *"[^"]*"' | head -1))"

names=("grep -c -F (LC_ALL=C)" "grep -c -F (default locale)" "tandem seq" "tandem threads x2" "tandem threads x1")
cmds=(
  "LC_ALL=C grep -c -F ERROR $log"
  "grep -c -F ERROR $log"
  "$tandem reduce --op count-matches --pattern ERROR --input $log --backend seq --repeat 1 --warmup 0 --json"
  "$tandem reduce --op count-matches --pattern ERROR --input $log --backend threads --workers 2 --repeat 1 --warmup 0 --json"
  "$tandem reduce --op count-matches --pattern ERROR --input $log --backend threads --workers 1 --repeat 1 --warmup 0 --json"
)
declare -A times
for ((r = 0; r < rounds; ++r)); do
  for i in "${!cmds[@]}"; do
    t0=$(date +%s%N)
    out=$(eval "${cmds[$i]}")
    t1=$(date +%s%N)
    times[$i]+="$(( (t1 - t0) / 1000 )) "
    if ((r == 0)); then
      count=$(echo "$out" | grep -o '"value": *[0-9]*' | head -1 | grep -o '[0-9]*$' || echo "$out")
      echo "  ${names[$i]}: count $count"
    fi
  done
done
echo "whole process, median of $rounds (min .. max), GB/s = bytes / median:"
grep_median=0
for i in "${!cmds[@]}"; do
  read -r -a us <<< "${times[$i]}"
  sorted=($(printf '%s\n' "${us[@]}" | sort -n))
  med=${sorted[$((rounds / 2))]}
  ((i == 0)) && grep_median=$med
  awk -v n="${names[$i]}" -v m="$med" -v lo="${sorted[0]}" -v hi="${sorted[$((rounds - 1))]}" -v b="$bytes" -v g="$grep_median" \
    'BEGIN { printf "  %-30s %8.1f ms (%.1f .. %.1f)  %6.2f GB/s  %5.2fx grep (LC_ALL=C)\n", n, m / 1e3, lo / 1e3, hi / 1e3, b / m / 1e3, g / m }'
done
