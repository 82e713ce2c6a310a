#!/usr/bin/python3
"""NumPy's matmul (OpenBLAS under it on Debian: numpy links libblas.so.3, which the alternatives
system points at OpenBLAS's pthread build) on the shapes of the gemm speed goals, timed as the
median of --repeat runs after one warm-up, with the inputs made outside the timing.

  /usr/bin/python3 bench/gemm_peers.py --n 4000 --dtype f64 [--repeat 3] [--threads 2]
  prints: n=4000 dtype=f64 threads=2 numpy_matmul=1.234s min=1.230s max=1.240s gflops=103.7 blas=...

--cli prints the one line `tandem bench` reads; --threads sets OPENBLAS_NUM_THREADS before NumPy
loads (default: OpenBLAS's own default, the logical cores).
"""
import argparse
import os
import sys
import time

p = argparse.ArgumentParser()
p.add_argument("--n", type=int, default=4000)
p.add_argument("--dtype", choices=["f32", "f64"], default="f64")
p.add_argument("--repeat", type=int, default=3)
p.add_argument("--threads", type=int, default=0)
p.add_argument("--cli", action="store_true")
a = p.parse_args()
if a.threads:
    os.environ["OPENBLAS_NUM_THREADS"] = str(a.threads)
import numpy as np  # noqa: E402  (after the thread count is set)


def blas_name():
    try:
        cfg = np.__config__.blas_opt_info  # numpy < 1.26
        return "+".join(cfg.get("libraries", []))
    except AttributeError:
        return "?"


dt = np.float64 if a.dtype == "f64" else np.float32
rng = np.random.default_rng(0)
A = (rng.random((a.n, a.n)) * 2 - 1).astype(dt)
B = (rng.random((a.n, a.n)) * 2 - 1).astype(dt)
C = np.empty((a.n, a.n), dt)
np.matmul(A, B, out=C)
times = []
for _ in range(a.repeat):
    t = time.perf_counter()
    np.matmul(A, B, out=C)
    times.append(time.perf_counter() - t)
times.sort()
med = times[len(times) // 2]
threads = os.environ.get("OPENBLAS_NUM_THREADS", "default")
print(f"n={a.n} dtype={a.dtype} threads={threads} numpy_matmul={med:.4f}s min={times[0]:.4f}s max={times[-1]:.4f}s "
      f"gflops={2 * a.n ** 3 / med / 1e9:.1f} numpy={np.__version__} blas={blas_name()}")
sys.stdout.flush()
