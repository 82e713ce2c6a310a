#!/usr/bin/python3
"""NumPy as a peer of `tandem gemm`: C = alpha A B + beta C with A (m x k) and B (k x n) of
--dtype, generated uniform in [-1, 1) in the set-up. A run is np.matmul(A, B, out=C) when
alpha = 1 and beta = 0 (Tandem's bench), else C = alpha (A @ B) + beta C0 (NumPy has no fused
form). NumPy calls its BLAS (Debian: OpenBLAS) with all its threads.

    gemm_numpy.py --m M --n N --k K [--dtype f64|f32] [--alpha 1] [--beta 0] [--seed 42]
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peer_protocol as proto  # noqa: E402

np = proto.require("numpy", "python3-numpy")


def blas_name():
    """The BLAS under NumPy and its thread count (threadpoolctl, which scikit-learn brings), if known."""
    try:
        import threadpoolctl
        np.ones((2, 2)) @ np.ones((2, 2))  # loads the BLAS
        for i in threadpoolctl.threadpool_info():
            if i.get("user_api") == "blas":
                return f"{i.get('internal_api')} {i.get('version')}, {i.get('num_threads')} threads"
    except Exception:
        pass
    return "its BLAS"


def main():
    p = proto.parser(__doc__)
    p.add_argument("--m", type=int, required=True)
    p.add_argument("--n", type=int, required=True)
    p.add_argument("--k", type=int, required=True)
    p.add_argument("--dtype", choices=["f32", "f64"], default="f64")
    p.add_argument("--alpha", type=float, default=1.0)
    p.add_argument("--beta", type=float, default=0.0)
    p.add_argument("--seed", type=int, default=42)
    a = p.parse_args()
    dt = np.float64 if a.dtype == "f64" else np.float32
    rng = np.random.default_rng(a.seed)
    A = (rng.random((a.m, a.k), dtype=dt) * 2 - 1)
    B = (rng.random((a.k, a.n), dtype=dt) * 2 - 1)
    C0 = (rng.random((a.m, a.n), dtype=dt) * 2 - 1)
    C = np.empty((a.m, a.n), dtype=dt)
    if a.alpha == 1 and a.beta == 0:
        def work():
            np.matmul(A, B, out=C)
        what = "np.matmul(A, B, out=C)"
    else:
        def work():
            np.add(dt(a.alpha) * (A @ B), dt(a.beta) * C0, out=C)
        what = "alpha (A @ B) + beta C0"
    proto.serve(f"numpy {np.__version__} ({blas_name()}), {what}, {a.m}x{a.k} by {a.k}x{a.n} {np.dtype(dt).name}", work)


if __name__ == "__main__":
    main()
