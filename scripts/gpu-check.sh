#!/usr/bin/env bash
# The one command for a machine with a GPU: build for its architecture, run every test with
# TANDEM_REQUIRE_GPU=1 (a GPU test that cannot find the device fails, never skips), the GPU tests
# under compute-sanitizer, seq-vs-gpu agreement for every workload, and the GPU benchmarks.
# Writes OUTDIR/summary.txt (one PASS/FAIL line per step, with its key figures) and one log per
# step. Each step is bounded by `timeout`; the whole run fits in 10 minutes on one H100 with 16
# cores. It never installs anything (GPU machines are offline): missing tools are named.
# Usage: scripts/gpu-check.sh OUTDIR
set -uo pipefail
cd "$(dirname "$0")/.."
src=$(pwd)
out=${1:?usage: scripts/gpu-check.sh OUTDIR}
mkdir -p "$out"
out=$(cd "$out" && pwd)
summary=$out/summary.txt
build=${TANDEM_GPUCHECK_BUILD:-build-gpucheck}
export PATH=/usr/local/cuda/bin:$PATH

# No GPU: say why on one line and stop.
if ! command -v nvidia-smi >/dev/null; then
  echo "gpu-check: no GPU: nvidia-smi not found (no NVIDIA driver on this machine)" | tee "$summary" >&2
  exit 1
fi
cc=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -n1 | tr -d ' ')
if [ -z "$cc" ] || ! [[ $cc =~ ^[0-9]+\.[0-9]+$ ]]; then
  echo "gpu-check: no GPU: nvidia-smi lists no device ($(nvidia-smi -L 2>&1 | head -n1))" | tee "$summary" >&2
  exit 1
fi
arch="${cc/./}-real"
: >"$summary"
failed=0
step() {  # step NAME STATUS DETAIL
  printf '%-14s %s  %s\n' "$1" "$2" "$3" | tee -a "$summary"
  [ "$2" = PASS ] || [ "$2" = SKIP ] || failed=1
}

{
  nvidia-smi --query-gpu=name,compute_cap,driver_version,memory.total --format=csv
  nvcc --version | tail -n2
} >"$out/machine.txt" 2>&1
step machine PASS "$(sed -n 2p "$out/machine.txt")"

# Dependencies: report only; scripts/deps.sh would reach for apt, which this machine cannot.
missing=""
for t in cmake ninja g++ python3; do command -v "$t" >/dev/null || missing+=" $t"; done
[ -x /usr/local/cuda/bin/compute-sanitizer ] || missing+=" compute-sanitizer"
if [ -n "$missing" ]; then step deps FAIL "missing:$missing"; else step deps PASS "cmake ninja g++ python3 compute-sanitizer"; fi

# Build for this GPU only, tests and benchmarks included.
jobs=$(nproc)
if timeout 420 cmake -S "$src" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DTANDEM_CUDA=ON \
     -DTANDEM_CUDA_ARCHITECTURES="$arch" -DTANDEM_BUILD_TESTS=ON -DTANDEM_BUILD_BENCH=ON >"$out/build.log" 2>&1 &&
   timeout 420 cmake --build "$build" -j "$jobs" >>"$out/build.log" 2>&1; then
  warnings=$(grep -c 'warning:' "$out/build.log")
  step build PASS "sm_${cc/./} ($arch), $warnings warnings"
else
  step build FAIL "see build.log: $(grep -m1 -E 'error|Error' "$out/build.log")"
  echo "gpu-check: the build failed; nothing else can run" | tee -a "$summary"
  exit 1
fi
cli=$build/cli/tandem

# Every test, with a device required.
TANDEM_REQUIRE_GPU=1 timeout 300 ctest --test-dir "$build" -j "$jobs" --output-on-failure -E '^mpi_runs$' >"$out/ctest.log" 2>&1
rc=$?
line=$(grep -E 'tests passed|tests failed' "$out/ctest.log" | tail -n1)
skipped=$(grep -c 'Skipped' "$out/ctest.log")
[ $rc -eq 0 ] && step ctest PASS "$line, $skipped skipped" || step ctest FAIL "$line (rc $rc)"

# The GPU tests under compute-sanitizer: memcheck, racecheck, initcheck.
sanitizer=/usr/local/cuda/bin/compute-sanitizer
gpu_tests=(
  "tests/test_gpu:gpu_*"
  "workloads/tasks/test_tasks:tasks_gpu.*"
  "workloads/montecarlo/test_montecarlo:*gpu*"
  "workloads/forest/test_forest:*gpu*"
  "workloads/gemm/test_gemm:gemm_gpu_schedule.*:*gemm_backends.*/3"
  "workloads/reduce/test_reduce:reduce_gpu.*:reduce/every_backend.*/3:*count_matches_backends.*gpu*"
)
for tool in memcheck racecheck initcheck; do
  ok=1
  errors=0
  for t in "${gpu_tests[@]}"; do
    exe=$build/${t%%:*}
    filter=${t#*:}
    log=$out/sanitizer-$tool-$(basename "$exe").log
    TANDEM_REQUIRE_GPU=1 timeout 240 "$sanitizer" --tool "$tool" --error-exitcode 86 \
      "$exe" --gtest_filter="$filter" --gtest_brief=1 >"$log" 2>&1 || ok=0
    e=$(grep -oE 'ERROR SUMMARY: [0-9]+' "$log" | grep -oE '[0-9]+' | tail -n1)
    errors=$((errors + ${e:-0}))
  done
  [ $ok -eq 1 ] && step "$tool" PASS "0 errors" || step "$tool" FAIL "$errors errors (sanitizer-$tool-*.log)"
done

# seq and gpu give the same results for every workload ("agree", and the result objects).
compare_py='
import json, sys
j = json.load(open(sys.argv[1]))
res = {r["backend"]: r["result"] for r in j["results"]}
if "gpu" not in res: sys.exit("gpu did not run: %s" % j.get("skipped"))
# gemm: cuBLAS and OpenBLAS sum in different orders; "agree" holds it to the workload tolerance.
if sys.argv[2:] != ["tolerance"] and res["seq"] != res["gpu"]: sys.exit("results differ")
if not j["agree"]: sys.exit("agree is false")
'
agree_fail=""
agreed=""
for w in $("$cli" --help | awk '/^Subcommands:/{on=1;next} on && NF {print $1}' | grep -vE '^(info|bench)$'); do
  json=$out/agree-$w.json
  run=("$w")
  # A workload whose run is a verb of its command: the problem tandem bench uses.
  [ "$w" = forest ] && run=(forest predict --synthetic 100,6,28 --rows 1000000)
  mode=exact
  [ "$w" = gemm ] && mode=tolerance
  if timeout 180 "$cli" "${run[@]}" --backend seq,gpu --json --repeat 1 >"$json" 2>"$out/agree-$w.err"; then
    if command -v python3 >/dev/null; then
      why=$(python3 -c "$compare_py" "$json" $mode 2>&1) || agree_fail+=" $w($why)"
    else
      grep -q '"agree": true' "$json" || agree_fail+=" $w(agree false)"
    fi
  else
    agree_fail+=" $w(exit $?: $(head -n1 "$out/agree-$w.err"))"
  fi
  agreed+=" $w"
done
[ -z "$agree_fail" ] && step agree PASS "seq == gpu:${agreed:-}" || step agree FAIL "$agree_fail"

# gemm on the GPU: every dtype checked against the float64 reference (a failed check exits 1),
# resident and streamed (a 1 GiB budget forces panels), seq checked beside it.
gemm_fail=""
gemm_fig=""
for args in "--dtype f64" "--dtype f32" "--dtype tf32" "--dtype bf16" "--dtype f16" \
            "--dtype f64 --beta 0.5 --gpu-mode streamed --gpu-memory 1073741824" \
            "--dtype f32 --gpu-mode streamed --gpu-memory 268435456"; do
  tag=$(echo "$args" | tr -c 'a-z0-9' '_')
  if timeout 120 "$cli" gemm --m 4000 --n 4000 --k 4000 $args --check --backend gpu --repeat 3 --json \
       >"$out/gemm-$tag.json" 2>"$out/gemm-$tag.err"; then
    gemm_fig+=" $(python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))["results"][0]
print("%s %.3g TFLOP/s err %.2g/%.2g;" % (r["result"]["dtype"], r["throughput"]["value"] / 1e12, r["result"]["max_rel_error"], r["result"]["bound"]))' "$out/gemm-$tag.json" 2>/dev/null)"
  else
    gemm_fail+=" [$args] exit $?: $(head -n1 "$out/gemm-$tag.err");"
  fi
done
timeout 120 "$cli" gemm --m 2000 --n 2000 --k 2000 --check --backend seq --repeat 1 >"$out/gemm-seq-check.txt" 2>&1 ||
  gemm_fail+=" seq --check failed: $(head -n1 "$out/gemm-seq-check.txt");"
[ -z "$gemm_fail" ] && step gemm-gpu PASS "${gemm_fig}" || step gemm-gpu FAIL "$gemm_fail"

# reduce on the GPU: --exact (every op, f32 and f64, resident and streamed) and count-matches on a
# generated log, each the same answer as seq.
reduce_fail=""
for args in "--op all --exact --n 50000000" "--op all --exact --dtype f32 --n 50000000" "--op var --dtype f32 --n 100000000"; do
  tag=$(echo "$args" | tr -c 'a-z0-9' '_')
  timeout 120 "$cli" reduce $args --backend seq,gpu --repeat 1 --json >"$out/reduce-$tag.json" 2>"$out/reduce-$tag.err" ||
    reduce_fail+=" [$args] exit $?: $(head -n1 "$out/reduce-$tag.err");"
done
if [ -x "$build/workloads/reduce/bench_count_matches" ]; then
  "$build/workloads/reduce/bench_count_matches" --make-log "$out/log.txt" 2000000 >/dev/null 2>&1
  timeout 120 "$cli" reduce --op count-matches --pattern ERROR --input "$out/log.txt" --backend seq,gpu --repeat 3 \
    --json >"$out/reduce-count.json" 2>"$out/reduce-count.err" || reduce_fail+=" count-matches exit $?: $(head -n1 "$out/reduce-count.err");"
  rm -f "$out/log.txt"
fi
[ -z "$reduce_fail" ] && step reduce-gpu PASS "--exact f32/f64 and count-matches agree with seq" || step reduce-gpu FAIL "$reduce_fail"

# GPU benchmarks: the bench programs' gpu cases, then tandem bench on seq, threads, gpu.
bench_ok=1
bench_fig=""
for b in $(find "$build/workloads" -maxdepth 2 -type f -name 'bench_*' -perm -u+x | sort); do
  name=$(basename "$b")
  timeout 240 "$b" --benchmark_filter=gpu --benchmark_format=json >"$out/$name.json" 2>"$out/$name.err" || bench_ok=0
  fig=$(python3 -c '
import json, sys
for b in json.load(open(sys.argv[1])).get("benchmarks", []):
    if b.get("error_occurred"): print("%s error: %s" % (b["name"], b.get("error_message"))); continue
    print("%s %.3g %s" % (b["name"], b["real_time"], b["time_unit"]))' "$out/$name.json" 2>/dev/null | paste -sd';' -)
  [ -n "$fig" ] && bench_fig+=" $fig;"
  grep -q error_occurred\"\ *:\ *true "$out/$name.json" 2>/dev/null && bench_ok=0
done
# gemm's GPU goals: Tandem >= 0.98x a direct cublasGemmEx; host-resident 10000^2 f64 streamed
# within 1.2x of max(host-to-device time, GEMM time).
if [ -f "$out/bench_gemm.json" ]; then
  gemm_goals=$(python3 -c '
import json, sys
b = {x["name"]: x for x in json.load(open(sys.argv[1])).get("benchmarks", []) if not x.get("error_occurred")}
out, ok = [], True
for t in ("f64", "f32", "tf32", "bf16"):
    d, m = b.get("gpu/n8192/%s/cublas_direct" % t), b.get("gpu/n8192/%s/tandem" % t)
    if d and m:
        r = d["real_time"] / m["real_time"]; ok &= r >= 0.98; out.append("%s %.3fx cuBLAS" % (t, r))
for n in ("gpu/n10000/f64/streamed", "gpu/n10000/f64/streamed_1GiB"):
    if n in b:
        r = b[n]["vs_bound"]; ok &= r <= 1.2; out.append("%s %.2fx max(h2d, gemm)" % (n.split("/")[-1], r))
print(("PASS " if ok and out else "FAIL ") + "; ".join(out))' "$out/bench_gemm.json" 2>&1)
  step gemm-goals "${gemm_goals%% *}" "${gemm_goals#* }"
fi
# reduce's GPU goals: Tandem's resident sum >= 0.97x CUB's own sum and >= 85% of the device's peak
# bandwidth (nvidia-smi: 2 x memory clock x bus width); streamed host data >= 0.9x the pinned
# host-to-device copy.
if [ -f "$out/bench_reduce.json" ]; then
  peak=$(nvidia-smi --query-gpu=clocks.max.memory,memory.bus_width --format=csv,noheader,nounits 2>/dev/null |
         head -n1 | awk -F', *' '{print 2 * $1 * 1e6 * $2 / 8}')
  reduce_goals=$(python3 -c '
import json, sys
b = {x["name"].split("/")[0]: x for x in json.load(open(sys.argv[1])).get("benchmarks", []) if not x.get("error_occurred")}
peak = float(sys.argv[2] or 0)
out, ok = [], True
t, c, h, s = (b.get(k) for k in ("gpu_tandem_sum", "gpu_cub_sum", "gpu_h2d_copy", "gpu_streamed"))
if t and c:
    r = t["bytes_per_second"] / c["bytes_per_second"]; ok &= r >= 0.97; out.append("sum %.3fx CUB" % r)
if t and peak:
    r = t["bytes_per_second"] / peak; ok &= r >= 0.85; out.append("%.0f%% of peak %.0f GB/s" % (100 * r, peak / 1e9))
if s and h:
    r = s["bytes_per_second"] / h["bytes_per_second"]; ok &= r >= 0.9; out.append("streamed %.2fx h2d" % r)
print(("PASS " if ok and out else "FAIL ") + "; ".join(out))' "$out/bench_reduce.json" "$peak" 2>&1)
  step reduce-goals "${reduce_goals%% *}" "${reduce_goals#* }"
fi
[ $bench_ok -eq 1 ] && step bench-gpu PASS "${bench_fig:- no gpu cases}" || step bench-gpu FAIL "${bench_fig:-} (see bench_*.err)"

if timeout 400 "$cli" bench --backends seq,threads,gpu --out "$out/tandem-bench.json" --html "$out/tandem-bench.html" \
     >"$out/tandem-bench.txt" 2>"$out/tandem-bench.err"; then
  fig=$(python3 -c '
import json, sys
j = json.load(open(sys.argv[1]))
big = {}
for r in j["results"]:
    if r["backend"] == "gpu": big[(r["workload"], r.get("case", ""))] = r  # the largest size, last
x = ["%s %s/%s gpu x%.3g vs seq" % (w, c, r.get("size"), r.get("speedup_vs_seq") or 0) for (w, c), r in big.items()]
x += ["%s gpu crossover %s" % (c["workload"], c.get("size")) for c in j.get("crossovers", []) if c["backend"] == "gpu"]
print("; ".join(x))' "$out/tandem-bench.json" 2>/dev/null)
  if [ -z "$fig" ]; then step tandem-bench FAIL "no gpu results: $(grep -m1 -i skip "$out/tandem-bench.err")"
  elif grep -q '"agree": true' "$out/tandem-bench.json"; then step tandem-bench PASS "$fig"
  else step tandem-bench FAIL "backends disagree: $fig"; fi
else
  step tandem-bench FAIL "exit $?: $(head -n1 "$out/tandem-bench.err")"
fi

# MPI ranks on the GPU (when this machine has Open MPI and the build found it): every workload
# under mpirun -np 1..4 with --backend gpu among the others, each rank on device local rank mod
# count, against the plain run; and the failure paths (tests/mpi_runs.py).
if grep -q 'define TANDEM_WITH_MPI 1' "$build/generated/tandem/build_config.hpp" 2>/dev/null; then
  if timeout 500 python3 "$src/tests/mpi_runs.py" --tandem "$cli" --mpiexec "$(command -v mpiexec)" >"$out/mpi.log" 2>&1; then
    step mpi-gpu PASS "$(grep -c '^ok: .* on gpu' "$out/mpi.log") gpu cases agree across ranks"
  else
    step mpi-gpu FAIL "$(grep -m1 '^FAIL' "$out/mpi.log")"
  fi
else
  step mpi-gpu SKIP "no MPI in this build (install libopenmpi-dev openmpi-bin)"
fi

if [ $failed -ne 0 ]; then
  echo "gpu-check: FAILED (see $summary)"
  exit 1
fi
echo "gpu-check: all steps passed ($summary)"
