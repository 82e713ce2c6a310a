#!/usr/bin/env python3
"""Scaling from 1 to 2 MPI ranks on this machine, one worker per rank, for every workload.

    bench/mpi_scaling.py --tandem BUILD/cli/tandem [--rounds 3] [--workload montecarlo ...]

Each workload runs as `mpirun -np 1` and `mpirun -np 2` with `--backend threads --workers 1`, in
turn, ROUNDS times (interleaved, so a noisy machine moves both alike); the figure is the median of
the report's median run time (rank 0's clock: a run ends when rank 0 has folded every rank's
summaries). Printed: both times, the speedup (goal for montecarlo: >= 1.8x) and whether the two
answers are the same bits. The machine's model, core count, SIMD level and load are printed first.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

# Problems of a second or more on one core: start-up and the fold are a few percent.
PROBLEMS = {
    "tasks": ["tasks", "--count", "16", "--n", "600000000"],
    "montecarlo": ["montecarlo", "--paths", "2000000", "--steps", "252"],
    "reduce": ["reduce", "--op", "all", "--n", "200000000"],
    # Rows in groups of 65,536: 2,000,000 rows are 31 groups, 16 and 15 per rank at P = 2.
    "forest": ["forest", "predict", "--synthetic", "100,8,32", "--rows", "2000000"],
    "gemm": ["gemm", "--m", "3000", "--n", "3000", "--k", "3000"],
}


def env_for_mpi():
    env = dict(os.environ)
    env.update({"OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
                "OMPI_MCA_rmaps_base_oversubscribe": "1", "OMPI_MCA_btl": "self,vader,tcp",
                # A rank waiting for another yields its core instead of spinning (ranks x workers
                # may exceed the cores).
                "OMPI_MCA_mpi_yield_when_idle": "1",
                "OMPI_MCA_btl_tcp_if_include": "lo", "OMPI_MCA_oob_tcp_if_include": "lo"})
    return env


def run(mpiexec, ranks, tandem, args):
    cmd = [mpiexec, "-np", str(ranks), "--bind-to", "core", tandem] + args + [
        "--backend", "threads", "--workers", "1", "--repeat", "3", "--warmup", "1", "--json"]
    p = subprocess.run(cmd, env=env_for_mpi(), capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"mpi_scaling: {' '.join(cmd)} exited {p.returncode}: {p.stderr.strip()[-400:]}")
    doc = json.loads(p.stdout)
    rec = doc["results"][0]
    return rec["time_s"]["median"], rec["result"], doc["machine"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tandem", required=True)
    ap.add_argument("--mpiexec", default="mpiexec")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--workload", action="append", choices=sorted(PROBLEMS))
    args = ap.parse_args()
    names = args.workload or list(PROBLEMS)
    machine = None
    print(f"{'workload':12} {'P=1':>10} {'P=2':>10} {'speedup':>8}  same answer")
    for name in names:
        times = {1: [], 2: []}
        answers = {}
        for _ in range(args.rounds):
            for p in (1, 2):
                t, result, machine = run(args.mpiexec, p, args.tandem, PROBLEMS[name])
                times[p].append(t)
                result.pop("gflops", None)
                answers[p] = result
        t1, t2 = statistics.median(times[1]), statistics.median(times[2])
        print(f"{name:12} {t1:9.3f}s {t2:9.3f}s {t1 / t2:7.2f}x  {'yes' if answers[1] == answers[2] else 'NO'}",
              flush=True)
    cpu = machine["cpu"]
    print(f"machine: {cpu['model']}, {cpu['logical_cores']} logical cores, SIMD {cpu['simd']}, "
          f"{machine['mpi']['implementation']}; load {open('/proc/loadavg').read().split()[:3]}")


if __name__ == "__main__":
    main()
