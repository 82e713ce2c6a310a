#!/usr/bin/env python3
"""Old and new `tandem` binaries timed in one run: each case runs on both, alternately, for several
rounds, and the table gives each side's best time (the minimum over every timed run of every round)
and the new/old ratio. On a shared, noisy machine the minima are the comparison; medians are shown
for reference. Results must agree bitwise between the two binaries, or the case is marked.

usage: bench/compare_builds.py OLD_TANDEM NEW_TANDEM [--rounds N] [--repeat N] [--only TEXT]
"""
import argparse
import json
import subprocess
import sys

CASES = [
    ("tasks 8 x 10^7, seq", ["tasks", "--backend", "seq"]),
    ("tasks 8 x 10^7, threads x2", ["tasks", "--backend", "threads", "--workers", "2"]),
    ("tasks 8 x 10^7, procs x2", ["tasks", "--backend", "procs", "--workers", "2"]),
    ("montecarlo 10,000 x 252, seq", ["montecarlo", "--backend", "seq"]),
    ("montecarlo 10,000 x 252, threads x2", ["montecarlo", "--backend", "threads", "--workers", "2"]),
    ("montecarlo 10,000 x 252, procs x2", ["montecarlo", "--backend", "procs", "--workers", "2"]),
    ("montecarlo 1,000,000 x 252, threads x2", ["montecarlo", "--backend", "threads", "--workers", "2", "--paths", "1000000"]),
    ("montecarlo Asian call + control 100,000, threads x2",
     ["montecarlo", "--backend", "threads", "--workers", "2", "--paths", "100000", "--option", "asian-call",
      "--control-variate", "--sigma", "0.2", "--rate", "0.05", "--dt", "0.003968253968253968"]),
    ("montecarlo Sobol call 65,536 x 252, threads x2",
     ["montecarlo", "--backend", "threads", "--workers", "2", "--paths", "65536", "--qmc", "sobol", "--option", "call",
      "--sigma", "0.2", "--rate", "0.05", "--dt", "0.003968253968253968"]),
]


def run(tandem, args, repeat):
    out = subprocess.run([tandem, *args, "--repeat", str(repeat), "--warmup", "1", "--json"],
                         check=True, capture_output=True, text=True).stdout
    r = json.loads(out)["results"][0]
    return r["time_s"]["samples"], json.dumps(r["result"], sort_keys=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("old")
    ap.add_argument("new")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--only", default="", help="run only the cases whose name contains this text")
    a = ap.parse_args()
    print("| case | old min | new min | new/old (min) | old median | new median | same result |")
    print("|---|---|---|---|---|---|---|")
    for name, args in CASES:
        if a.only not in name:
            continue
        samples = {"old": [], "new": []}
        results = {"old": set(), "new": set()}
        for _ in range(a.rounds):
            for side, exe in (("old", a.old), ("new", a.new)):
                s, res = run(exe, args, a.repeat)
                samples[side] += s
                results[side].add(res)
        mn = {k: min(v) for k, v in samples.items()}
        md = {k: sorted(v)[len(v) // 2] for k, v in samples.items()}
        same = "yes" if results["old"] == results["new"] and len(results["old"]) == 1 else "NO"
        ms = lambda t: "%.2f ms" % (t * 1e3) if t < 1 else "%.3f s" % t
        print("| %s | %s | %s | %.3f | %s | %s | %s |" % (name, ms(mn["old"]), ms(mn["new"]), mn["new"] / mn["old"],
                                                         ms(md["old"]), ms(md["new"]), same), flush=True)


if __name__ == "__main__":
    sys.exit(main())
