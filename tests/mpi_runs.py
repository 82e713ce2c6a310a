#!/usr/bin/env python3
"""Every workload across MPI ranks on this machine (oversubscribed): the same answer as one process.

For each case, the plain run (no launcher) gives the reference JSON `result` (and output file);
`mpirun -np P` must give it bit for bit (the JSON text of every number) for P = 1, 2, 3, 4 on
seq, and for P = 3 on every other backend this build can run. Then the failure paths: a chunk
that fails on one rank, a rank killed with SIGKILL, and Ctrl-C (SIGINT) on mpirun: each must end
the whole job with a non-zero status within 5 seconds, with a message naming the rank where there
is one, and leave no tandem process behind. Prints "mpi_runs: OK" when everything held.

Usage: mpi_runs.py --tandem PATH --mpiexec PATH [--quick]
"""
import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
failures = []


def fail(what):
    failures.append(what)
    print("FAIL: " + what, flush=True)


def env_for_mpi():
    env = dict(os.environ)
    # As root, on 2 cores, with up to 4 ranks: Open MPI must be told both are intended.
    env.update({"OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
                "OMPI_MCA_rmaps_base_oversubscribe": "1",
                # Loopback TCP and shared memory only: no network probing on a CI machine.
                "OMPI_MCA_btl": "self,vader,tcp", "OMPI_MCA_btl_tcp_if_include": "lo",
                "OMPI_MCA_oob_tcp_if_include": "lo"})
    env.pop("TANDEM_FAULT", None)
    return env


def tandem_processes(tandem):
    """PIDs of live processes running the tandem binary (ranks and procs workers)."""
    out = []
    real = os.path.realpath(tandem)
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            exe = os.readlink(f"/proc/{pid}/exe")
            with open(f"/proc/{pid}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if exe == real and state != "Z":
            out.append(int(pid))
    return out


def wait_gone(tandem, seconds=5.0):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        left = tandem_processes(tandem)
        if not left:
            return []
        time.sleep(0.05)
    return tandem_processes(tandem)


def answer(result):
    """A result without what reports on the run rather than gives the answer (gemm's gflops)."""
    if isinstance(result, dict):
        return {k: answer(v) for k, v in result.items() if k not in ("gflops",)}
    if isinstance(result, list):
        return [answer(v) for v in result]
    return result


def run_json(cmd, env, what, output=None):
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    if p.returncode != 0:
        fail(f"{what}: exit {p.returncode}: {p.stderr.strip()[-600:]}")
        return None
    try:
        doc = json.loads(p.stdout)
    except json.JSONDecodeError:
        fail(f"{what}: stdout is not one JSON document: {p.stdout[:300]!r}")
        return None
    results = [answer(r["result"]) for r in doc["results"]]
    data = None
    if output:
        with open(output, "rb") as f:
            data = f.read()
    return results, doc, data


def cases(work):
    """(name, arguments, output file or None). Small problems: every run well under a second."""
    rows = os.path.join(work, "rows.npy")
    text = os.path.join(work, "log.txt")
    values = os.path.join(work, "values.npy")
    return [
        ("tasks", ["tasks", "--count", "5", "--n", "3000000"], None),
        ("montecarlo var", ["montecarlo", "--paths", "200000", "--steps", "16", "--var-level", "0.05"], None),
        ("montecarlo asian", ["montecarlo", "--paths", "100000", "--steps", "12", "--option", "asian-call",
                              "--strike", "100", "--control-variate"], None),
        ("montecarlo sobol", ["montecarlo", "--paths", "65536", "--steps", "8", "--qmc", "sobol",
                              "--qmc-replicates", "16"], None),
        ("reduce all f64", ["reduce", "--op", "all", "--n", "3000017"], None),
        ("reduce all f32", ["reduce", "--op", "all", "--n", "1000003", "--dtype", "f32", "--dist", "normal"], None),
        ("reduce exact", ["reduce", "--op", "all", "--n", "2000003", "--exact"], None),
        ("reduce file", ["reduce", "--op", "var", "--input", values], None),
        ("count-matches", ["reduce", "--op", "count-matches", "--pattern", "ERROR", "--input", text], None),
        ("forest", ["forest", "predict", "--synthetic", "50,6,12", "--rows", "100003"], None),
        ("forest npy out", ["forest", "predict", "--synthetic", "20,5,8", "--input", rows, "--output",
                            os.path.join(work, "pred.csv")], os.path.join(work, "pred.csv")),
        ("gemm f64", ["gemm", "--m", "333", "--n", "257", "--k", "129", "--output", os.path.join(work, "c.npy")],
         os.path.join(work, "c.npy")),
        ("gemm f32", ["gemm", "--m", "200", "--n", "190", "--k", "300", "--dtype", "f32"], None),
    ]


def make_inputs(work):
    import struct
    # A raw float64 .npy (version 1.0) of 1,000,003 values, written without NumPy.
    n = 1000003
    header = "{'descr': '<f8', 'fortran_order': False, 'shape': (%d,), }" % n
    header += " " * (63 - (10 + len(header)) % 64) + "\n"
    with open(os.path.join(work, "values.npy"), "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode())
        x = 0.5
        buf = bytearray()
        for i in range(n):
            x = (x * 3.9 * (1 - x)) if 0 < x < 1 else 0.3
            buf += struct.pack("<d", x * 100 - 37.5)
        f.write(buf)
    # Rows for the forest: 30,011 x 8 float32.
    rows, feats = 30011, 8
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (%d, %d), }" % (rows, feats)
    header += " " * (63 - (10 + len(header)) % 64) + "\n"
    with open(os.path.join(work, "rows.npy"), "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode())
        f.write(b"".join(struct.pack("<f", ((i * 2654435761) % 1000003) / 1000.0 - 500.0)
                         for i in range(rows * feats)))
    # A log of 3 MB: lines of varying length, some with the pattern, some across chunk edges.
    with open(os.path.join(work, "log.txt"), "w") as f:
        for i in range(60000):
            f.write(("ERROR " if i % 7 == 3 else "info ") + "x" * (i % 53) + (" ERROR" if i % 11 == 0 else "") + "\n")


def check_agreement(args, tandem, mpiexec, backends):
    env = env_for_mpi()
    with tempfile.TemporaryDirectory(prefix="tandem-mpi-") as work:
        make_inputs(work)
        for name, cmd, output in cases(work):
            for backend in backends:
                common = cmd + ["--backend", backend, "--repeat", "1", "--warmup", "0", "--json"]
                if output and os.path.exists(output):
                    os.remove(output)
                ref = run_json([tandem] + common, env, f"{name} {backend} plain", output)
                if ref is None:
                    continue
                sizes = (1, 2, 3, 4) if backend == "seq" else (3,)
                if args.quick and backend != "seq":
                    sizes = (2,)
                before = len(failures)
                for p in sizes:
                    if output and os.path.exists(output):
                        os.remove(output)
                    got = run_json([mpiexec, "-np", str(p), tandem] + common, env, f"{name} {backend} P={p}", output)
                    if got is None:
                        continue
                    if json.dumps(got[0], sort_keys=True) != json.dumps(ref[0], sort_keys=True):
                        fail(f"{name} {backend} P={p}: result differs from the plain run:\n  plain {ref[0]}\n  mpi   {got[0]}")
                    elif output and got[2] != ref[2]:
                        fail(f"{name} {backend} P={p}: {os.path.basename(output)} differs from the plain run's")
                    mpi = got[1].get("machine", {}).get("mpi")
                    if not mpi or mpi.get("ranks") != p or not mpi.get("thread_level"):
                        fail(f"{name} {backend} P={p}: the report's machine header has no MPI world of {p}: {mpi}")
                if len(failures) == before:
                    print(f"ok: {name} on {backend}: P = {', '.join(map(str, sizes))} agree with the plain run", flush=True)


def check_failing_chunk(tandem, mpiexec):
    env = env_for_mpi()
    # Rank 2's first span fails at once while ranks 0 and 1 compute (about 2 s) and then wait for
    # its summaries: the bound is on the whole job.
    job = ["tasks", "--count", "8", "--n", "2000000000", "--backend", "threads", "--workers", "1", "--repeat", "3"]
    t0 = time.monotonic()
    p = subprocess.run([mpiexec, "-np", "2", tandem] + job + [":", "-np", "1", "env",
                        "TANDEM_FAULT=chunk_span@1:fail", tandem] + job,
                       env=env, capture_output=True, text=True, timeout=60)
    took = time.monotonic() - t0
    if took > 5:
        fail(f"a failing chunk on rank 2: the job took {took:.1f} s to end (bound 5 s)")
    if p.returncode == 0:
        fail("a failing chunk on rank 2: mpirun exited 0")
    if "rank 2 of 3" not in p.stderr or "a chunk failed" not in p.stderr:
        fail(f"a failing chunk on rank 2: no message naming the rank: {p.stderr.strip()[:400]}")
    left = wait_gone(tandem, 5)
    if left:
        fail(f"a failing chunk: tandem processes left: {left}")
    print(f"ok: a failing chunk on rank 2 of 3 ended the job (exit {p.returncode}) in {took:.1f} s", flush=True)


def ranks_of(mpirun_pid, tandem):
    """The tandem processes whose parent is mpirun (the ranks)."""
    out = []
    for pid in tandem_processes(tandem):
        try:
            with open(f"/proc/{pid}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except OSError:
            continue
        if ppid == mpirun_pid:
            out.append(pid)
    return sorted(out)


def start_long_job(tandem, mpiexec, backend):
    env = env_for_mpi()
    job = ["tasks", "--count", "64", "--n", "4000000000", "--backend", backend, "--workers", "2", "--repeat", "50"]
    p = subprocess.Popen([mpiexec, "-np", "3", tandem] + job, env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, start_new_session=True)
    end = time.monotonic() + 20
    while time.monotonic() < end:
        r = ranks_of(p.pid, tandem)
        if len(r) == 3:
            time.sleep(1.0)  # inside the runs: MPI started, procs workers forked
            return p, r
        time.sleep(0.05)
    p.kill()
    raise RuntimeError("the 3 ranks did not start within 20 s")


def finish(p, what, tandem, bound=5.0):
    t0 = time.monotonic()
    try:
        out, err = p.communicate(timeout=bound + 25)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out, err = p.communicate()
        fail(f"{what}: mpirun still running 30 s later (a hang)")
        return None, err
    took = time.monotonic() - t0
    if took > bound:
        fail(f"{what}: the job took {took:.1f} s to end (bound {bound} s)")
    left = wait_gone(tandem, 5)
    if left:
        fail(f"{what}: tandem processes left: {left}")
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
    return took, err


def check_killed_rank(tandem, mpiexec, backend):
    p, ranks = start_long_job(tandem, mpiexec, backend)
    victim = ranks[1]
    os.kill(victim, signal.SIGKILL)
    took, err = finish(p, f"a killed rank ({backend})", tandem)
    if p.returncode == 0:
        fail(f"a killed rank ({backend}): mpirun exited 0")
    if "rank" not in err or "signal 9" not in err:
        fail(f"a killed rank ({backend}): no message naming the rank: {err.strip()[:400]}")
    if took is not None:
        print(f"ok: a rank killed by SIGKILL ({backend}) ended the job (exit {p.returncode}) in {took:.1f} s", flush=True)


def check_ctrl_c(tandem, mpiexec, backend):
    p, _ = start_long_job(tandem, mpiexec, backend)
    os.killpg(p.pid, signal.SIGINT)  # what the terminal sends to the foreground group on Ctrl-C
    took, err = finish(p, f"Ctrl-C on mpirun ({backend})", tandem)
    if p.returncode == 0:
        fail(f"Ctrl-C on mpirun ({backend}): exit 0")
    if took is not None:
        print(f"ok: Ctrl-C on mpirun ({backend}) ended the job (exit {p.returncode}) in {took:.1f} s", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tandem", required=True)
    ap.add_argument("--mpiexec", required=True)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    tandem = os.path.abspath(args.tandem)
    info = subprocess.run([tandem, "info", "--json"], capture_output=True, text=True, check=True)
    machine = json.loads(info.stdout)
    backends = ["seq", "threads", "procs"]
    if machine["gpu"]["devices"]:
        backends.append("gpu")
    else:
        print(f"skipped: the gpu backend under mpirun (no device: {machine['gpu'].get('reason', '')})")
    if tandem_processes(tandem):
        print("note: tandem processes were running before the test; the leftover checks may blame them")
    check_agreement(args, tandem, args.mpiexec, backends)
    check_failing_chunk(tandem, args.mpiexec)
    for backend in ("threads", "procs"):
        check_killed_rank(tandem, args.mpiexec, backend)
        check_ctrl_c(tandem, args.mpiexec, backend)
    if failures:
        print(f"mpi_runs: {len(failures)} failure(s)")
        sys.exit(1)
    print("mpi_runs: OK")


if __name__ == "__main__":
    main()
