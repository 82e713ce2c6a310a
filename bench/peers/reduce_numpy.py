#!/usr/bin/python3
"""NumPy as a peer of `tandem reduce`: one reduction of N generated values (or of a file).

    reduce_numpy.py --n N --op sum|mean|min|max|sumsq|var|std|all [--dtype f64|f32]
                    [--dist uniform|normal] [--seed 42] [--input FILE]

The array is made in the set-up (NumPy's generator: the same distribution as Tandem's, other
numbers); a run is one NumPy call: a.sum(), a.mean(), a.min(), a.max(), np.dot(a, a) (sumsq),
a.var(), a.std(), or all of them (`all`, one pass each: NumPy has no fused form). --input reads a
.npy file (any shape, flat) or raw little-endian values of --dtype, as Tandem does.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peer_protocol as proto  # noqa: E402

np = proto.require("numpy", "python3-numpy")

OPS = {
    "sum": lambda a: a.sum(),
    "mean": lambda a: a.mean(),
    "min": lambda a: a.min(),
    "max": lambda a: a.max(),
    "sumsq": lambda a: np.dot(a, a),
    "var": lambda a: a.var(),
    "std": lambda a: a.std(),
    "all": lambda a: (a.sum(), a.mean(), a.min(), a.max(), np.dot(a, a), a.var(), a.std()),
}


def main():
    p = proto.parser(__doc__)
    p.add_argument("--n", type=int, default=0)
    p.add_argument("--op", choices=sorted(OPS), required=True)
    p.add_argument("--dtype", choices=["f32", "f64"], default="f64")
    p.add_argument("--dist", choices=["uniform", "normal"], default="uniform")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--input", default="")
    a = p.parse_args()
    dt = np.float64 if a.dtype == "f64" else np.float32
    if a.input:
        arr = np.load(a.input, mmap_mode=None) if a.input.endswith(".npy") else np.fromfile(a.input, dtype=dt)
        arr = np.ascontiguousarray(arr).reshape(-1)
        source = a.input
    else:
        rng = np.random.default_rng(a.seed)
        arr = (rng.random(a.n, dtype=dt) if a.dist == "uniform" else rng.standard_normal(a.n, dtype=dt))
        source = f"{a.n} generated {a.dist}"
    op = OPS[a.op]
    op_name = "dot(a, a)" if a.op == "sumsq" else a.op
    proto.serve(f"numpy {np.__version__}, {op_name} of {source} {arr.dtype.name} ({arr.nbytes} bytes)", lambda: op(arr))


if __name__ == "__main__":
    main()
