#!/usr/bin/env python3
"""Fault storms against `tandem <workload> --backend procs`, for a bounded time.

Each round starts tandem in a new process group on tasks or montecarlo and does one of:
  workers  sends SIGKILL, SIGSEGV or SIGSTOP to random workers at random moments;
  parent   sends SIGINT (to the group, as Ctrl-C does) or SIGTERM (to tandem) at a random moment;
  both     a worker storm, then a parent signal.
Then it checks the guarantees of docs/reliability.md:
  - exit 0: the JSON `result` equals seq's, and --out holds the same document;
  - exit 1: a clean failure (a chunk failed more than --max-retries times), one line on stderr;
  - exit 130 / 143: the parent signal, and --out not written, unless the signal came after the
    document was committed: then --out is the whole document and equals seq's;
  - never hung (each run has a deadline), and nothing left behind: no process of the group
    alive or unreaped, no new /dev/shm entry, no file in the --out folder but the output.
It prints the figures and exits 1 when a guarantee was broken.

  tests/fault_storm.py --tandem build/cli/tandem --seconds 60
"""
import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter

WORKLOADS = {
    # About 0.3-0.6 s per run on 2 workers of the development machine; hundreds of chunks.
    "tasks": ["tasks", "--count", "8", "--n", "30000000"],
    "montecarlo": ["montecarlo", "--paths", "300000", "--steps", "128"],
}
RUN_DEADLINE_S = 60  # a run that takes longer has hung


def children(pid):
    """Pids of the direct children of every thread of `pid`."""
    found = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                found += [int(x) for x in f.read().split()]
    except OSError:
        pass
    return found


def group_members(pgid):
    """(live, zombie) processes whose process group is pgid."""
    live, zombie = [], []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()
        if int(fields[2]) != pgid:
            continue
        (zombie if fields[0] == "Z" else live).append(int(name))
    return live, zombie


def dev_shm():
    try:
        return set(os.listdir("/dev/shm"))
    except OSError:
        return set()


def result_of(text):
    doc = json.loads(text)
    return doc["results"][0]["result"]


def reference(tandem, workload):
    out = subprocess.run([tandem, *WORKLOADS[workload], "--backend", "seq", "--repeat", "1", "--warmup", "0",
                          "--json"], capture_output=True, text=True, check=True)
    return result_of(out.stdout)


def one_round(args, rng, refs, stats):
    workload = rng.choice(sorted(WORKLOADS))
    scenario = rng.choice(["workers", "workers", "parent", "parent", "both"])
    outdir = tempfile.mkdtemp(prefix="tandem_storm_")
    out = os.path.join(outdir, "out.json")
    cmd = [args.tandem, *WORKLOADS[workload], "--backend", "procs", "--workers", str(args.workers),
           "--repeat", "2", "--warmup", "0", "--max-retries", str(args.max_retries), "--json", "--out", out]
    shm_before = dev_shm()
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    parent_signal = None
    kills = 0
    if scenario in ("workers", "both"):
        for _ in range(rng.randint(1, args.max_kills)):
            time.sleep(rng.uniform(0.005, 0.12))
            if proc.poll() is not None:
                break
            workers = children(proc.pid)
            if not workers:
                continue
            sig = rng.choice([signal.SIGKILL, signal.SIGKILL, signal.SIGSEGV, signal.SIGSTOP])
            try:
                os.kill(rng.choice(workers), sig)
                kills += 1
                stats["kills"][signal.Signals(sig).name] += 1
            except ProcessLookupError:
                pass
    if scenario in ("parent", "both"):
        time.sleep(rng.uniform(0.0, 0.6))
        parent_signal = rng.choice([signal.SIGINT, signal.SIGTERM])
        if proc.poll() is None:
            if parent_signal == signal.SIGINT:
                os.killpg(proc.pid, signal.SIGINT)  # a terminal's Ctrl-C reaches the whole group
            else:
                os.kill(proc.pid, signal.SIGTERM)
            stats["parent_signals"][parent_signal.name] += 1
        else:
            parent_signal = None  # it had finished: nothing was sent
    try:
        stdout, stderr = proc.communicate(timeout=RUN_DEADLINE_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        stdout, stderr = proc.communicate()
        stats["hung"] += 1
        stats["problems"].append(f"{workload}/{scenario}: hung ({kills} kills)")
    seconds = time.monotonic() - t0
    status = proc.returncode if proc.returncode >= 0 else 128 - proc.returncode
    stats["runs"] += 1
    stats["statuses"][status] += 1
    stats["seconds"].append(seconds)

    live, zombie = group_members(proc.pid)
    for pid in live:  # clean up whatever a broken guarantee left, so the next round starts clean
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    leftovers = []
    if live:
        leftovers.append(f"{len(live)} live process(es) of its group")
    if zombie:
        leftovers.append(f"{len(zombie)} unreaped process(es) of its group")
    new_shm = dev_shm() - shm_before
    if new_shm:
        leftovers.append(f"/dev/shm: {sorted(new_shm)}")
    stray_files = sorted(set(os.listdir(outdir)) - {"out.json"})
    if stray_files:
        leftovers.append(f"files beside --out: {stray_files}")
    wrote_out = os.path.exists(out)

    expected = {0, 1} if parent_signal is None else {0, 1, 128 + parent_signal}
    what = f"{workload}/{scenario} ({kills} kills, parent {parent_signal.name if parent_signal else '-'})"
    if status not in expected:
        stats["problems"].append(f"{what}: exit {status}: {stderr.strip()[-300:]}")
    if status == 0:
        try:
            same = result_of(stdout) == refs[workload]
            with open(out) as f:
                same = same and result_of(f.read()) == refs[workload]
        except (ValueError, KeyError, OSError) as e:
            same = False
            stats["problems"].append(f"{what}: unreadable output: {e}")
        stats["equal" if same else "different"] += 1
        if not same:
            stats["problems"].append(f"{what}: result differs from seq")
    else:
        if wrote_out and parent_signal is not None and status == 128 + parent_signal:
            # The signal came after the document was committed (while stdout was written, or at
            # exit): the file must then be the whole, correct document, never part of one.
            try:
                with open(out) as f:
                    if result_of(f.read()) != refs[workload]:
                        stats["problems"].append(f"{what}: --out left after the signal differs from seq")
            except (ValueError, KeyError, OSError) as e:
                stats["problems"].append(f"{what}: --out left after the signal is not a whole document: {e}")
        elif wrote_out:
            leftovers.append("--out written by a run that failed")
        if status == 1 and stderr.count("\n") != 1:
            stats["problems"].append(f"{what}: exit 1 without one clear line: {stderr.strip()[-300:]}")
    if leftovers:
        stats["leftovers"] += 1
        stats["problems"].append(f"{what}: left " + "; ".join(leftovers))
    shutil.rmtree(outdir, ignore_errors=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tandem", default="build/cli/tandem", help="the tandem binary")
    p.add_argument("--seconds", type=float, default=60, help="stop starting rounds after this long")
    p.add_argument("--seed", type=int, default=None, help="random seed (default: time)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--max-kills", type=int, default=8, help="worker signals per round, at most")
    p.add_argument("--max-retries", type=int, default=8, help="tandem's --max-retries")
    args = p.parse_args()
    seed = args.seed if args.seed is not None else int(time.time())
    rng = random.Random(seed)
    refs = {w: reference(args.tandem, w) for w in WORKLOADS}
    stats = {"runs": 0, "equal": 0, "different": 0, "hung": 0, "leftovers": 0, "seconds": [],
             "kills": Counter(), "parent_signals": Counter(), "statuses": Counter(), "problems": []}
    start = time.monotonic()
    while time.monotonic() - start < args.seconds:
        one_round(args, rng, refs, stats)

    secs = sorted(stats["seconds"]) or [0]
    print(f"fault_storm: seed {seed}, {args.seconds:g} s, tandem {'|'.join(sorted(WORKLOADS))} --backend procs "
          f"--workers {args.workers} --max-retries {args.max_retries}")
    print(f"  runs: {stats['runs']} (run time median {secs[len(secs) // 2]:.2f} s, max {secs[-1]:.2f} s)")
    print(f"  worker signals: {sum(stats['kills'].values())} "
          f"({', '.join(f'{k} {v}' for k, v in sorted(stats['kills'].items())) or 'none'})")
    print(f"  parent signals: {sum(stats['parent_signals'].values())} "
          f"({', '.join(f'{k} {v}' for k, v in sorted(stats['parent_signals'].items())) or 'none'})")
    print(f"  exit statuses: {', '.join(f'{k}: {v}' for k, v in sorted(stats['statuses'].items()))}")
    print(f"  results equal to seq: {stats['equal']} of {stats['statuses'][0]} completed runs"
          f" (different: {stats['different']})")
    print(f"  hung: {stats['hung']}; runs that left something behind: {stats['leftovers']}")
    for line in stats["problems"]:
        print(f"  PROBLEM: {line}")
    ok = not stats["problems"] and stats["runs"] > 0
    print("fault_storm: OK" if ok else "fault_storm: FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
