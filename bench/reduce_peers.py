#!/usr/bin/env python3
"""Tandem's reductions beside NumPy and this machine's read bandwidth, round by round.

Each round runs bench_reduce (Tandem's cases and the read pass: one process, the array made once)
and then NumPy's sum, var and dot(x, x) on an array of the same size and kind, so a noisy machine
moves both alike. Prints the median GB/s of every case over the rounds and the ratios the speed
goals of issue 10 are stated in (docs/reduce.md).

  /usr/bin/python3 bench/reduce_peers.py --bench build-cpu/workloads/reduce/bench_reduce [--n 100000000] [--rounds 5]
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import time

import numpy as np

CASES = ("read_pass/1", "read_pass/2", "seq_sum/1", "threads_sum/2", "threads_sum_f32/2", "threads_min/2",
         "threads_max/2", "threads_sumsq/2", "threads_var/2", "threads_all/2", "procs_sum/2", "seq_exact_sum/1",
         "threads_exact_sum/2", "threads_exact_var/2")


def tandem_round(bench, n):
    env = dict(os.environ, TANDEM_REDUCE_BENCH_N=str(n))
    pattern = "^(" + "|".join(CASES) + ")/real_time$"
    out = subprocess.run([bench, "--benchmark_filter=" + pattern, "--benchmark_format=json",
                          "--benchmark_min_time=0.3"], env=env, check=True, capture_output=True, text=True).stdout
    rates = {}
    label = ""
    for b in json.loads(out)["benchmarks"]:
        name = b["name"].replace("/real_time", "")
        rates[name] = b["bytes_per_second"] / 1e9
        label = b.get("label", label) or label
    return rates, label


def best_rate(f, nbytes, repeat=5):
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        f()
        best = min(best, time.perf_counter() - t)
    return nbytes / best / 1e9


def numpy_round(x64, x32):
    return {"numpy sum f64": best_rate(lambda: x64.sum(), x64.nbytes),
            "numpy sum f32": best_rate(lambda: x32.sum(), x32.nbytes),
            "numpy var f64": best_rate(lambda: x64.var(), x64.nbytes, 3),
            "numpy dot(x,x) f64": best_rate(lambda: np.dot(x64, x64), x64.nbytes)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bench", required=True)
    ap.add_argument("--n", type=int, default=100_000_000)
    ap.add_argument("--rounds", type=int, default=5)
    a = ap.parse_args()
    rng = np.random.default_rng(42)
    x64 = rng.standard_normal(a.n)
    x32 = x64.astype(np.float32)
    samples = {}
    simd = ""
    for r in range(a.rounds):
        rates, simd = tandem_round(a.bench, a.n)
        rates.update(numpy_round(x64, x32))
        for k, v in rates.items():
            samples.setdefault(k, []).append(v)
        print(f"round {r + 1}/{a.rounds} done", flush=True)
    med = {k: statistics.median(v) for k, v in samples.items()}
    print(f"\n{platform.processor() or platform.machine()}, numpy {np.__version__}, SIMD {simd}, n = {a.n}, "
          f"{a.rounds} rounds, median GB/s (min..max)\n")
    print("| case | GB/s | min .. max |\n|---|---|---|")
    for k in sorted(med):
        print(f"| {k} | {med[k]:.1f} | {min(samples[k]):.1f} .. {max(samples[k]):.1f} |")

    def ratio(x, y):
        return med[x] / med[y] if x in med and y in med else float("nan")

    print("\n| goal | measured | met |\n|---|---|---|")
    goals = [
        ("sum (threads) >= 0.95x read bandwidth (2 threads)", ratio("threads_sum/2", "read_pass/2"), 0.95),
        ("min (threads) >= 0.95x read bandwidth", ratio("threads_min/2", "read_pass/2"), 0.95),
        ("max (threads) >= 0.95x read bandwidth", ratio("threads_max/2", "read_pass/2"), 0.95),
        ("sum (threads) >= 1.0x NumPy sum", ratio("threads_sum/2", "numpy sum f64"), 1.0),
        ("sum f32 (threads) >= 1.0x NumPy sum f32", ratio("threads_sum_f32/2", "numpy sum f32"), 1.0),
        ("var (threads) >= 5x NumPy var", ratio("threads_var/2", "numpy var f64"), 5.0),
        ("sumsq (threads) >= 1.2x NumPy dot(x, x)", ratio("threads_sumsq/2", "numpy dot(x,x) f64"), 1.2),
        # Rates are bytes per second, so the default's time over --exact's is exact's rate over the default's.
        ("--exact sum time <= 1.25x default (threads)", ratio("threads_exact_sum/2", "threads_sum/2"), 1 / 1.25),
    ]
    for name, value, need in goals:
        shown = f"{1 / value:.2f}x the time" if "exact" in name else f"{value:.2f}x"
        print(f"| {name} | {shown} | {'yes' if value >= need else 'no'} |")


if __name__ == "__main__":
    main()
