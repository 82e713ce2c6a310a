#!/usr/bin/python3
"""The published Ray example's Monte Carlo as a peer of `tandem montecarlo --model arithmetic`:
PATHS paths of STEPS steps S <- max(0, S (1 + mu dt + sigma sqrt(dt) Z)), as the example's
per-path Python loop (--variant loop) or vectorised with NumPy (--variant numpy).

    montecarlo_peer.py --paths P --steps S [--s0 100] [--sigma 0.02] [--mu 0] [--dt 1]
                       --variant loop|numpy [--seed 42] [--published DIR]

With --published DIR and mu = 0, the example's own functions run from DIR/python_montecarlo.py:
simulate_stock_price(s0, STEPS + 1, sigma sqrt(dt)) (its list holds the start and STEPS changes)
and vectorised(...) (the product of (1 + z), without the clamp at 0, as published). Otherwise the
same code below, with the drift. The vectorised form holds PATHS x STEPS normals at once, as
published, up to 2^25 of them (256 MiB); beyond that it runs in blocks of paths.
"""
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peer_protocol as proto  # noqa: E402

np = proto.require("numpy", "python3-numpy")


def make_loop(s0, steps, drift, vol):
    def simulate_stock_price():
        prices = [s0]
        for _ in range(steps):
            change = np.random.normal(drift, vol)
            prices.append(max(0, prices[-1] * (1 + change)))
        return prices
    return simulate_stock_price


def main():
    p = proto.parser(__doc__)
    p.add_argument("--paths", type=int, required=True)
    p.add_argument("--steps", type=int, required=True)
    p.add_argument("--s0", type=float, default=100.0)
    p.add_argument("--sigma", type=float, default=0.02)
    p.add_argument("--mu", type=float, default=0.0)
    p.add_argument("--dt", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--variant", choices=["loop", "numpy"], required=True)
    p.add_argument("--published", default="")
    a = p.parse_args()
    vol, drift = a.sigma * math.sqrt(a.dt), a.mu * a.dt
    published = None
    if a.published and a.mu == 0 and os.path.exists(os.path.join(a.published, "python_montecarlo.py")):
        sys.path.insert(0, a.published)
        import python_montecarlo as published
    source = "the published functions from " + a.published if published else "the published example's code"
    np.random.seed(a.seed)
    rng = np.random.default_rng(a.seed)
    finals = []
    if a.variant == "loop":
        one = (lambda: published.simulate_stock_price(a.s0, a.steps + 1, vol)) if published \
            else make_loop(a.s0, a.steps, drift, vol)

        def work():
            finals[:] = [one()[-1] for _ in range(a.paths)]
        what = "per-path Python loop (one np.random.normal per step)"
    else:
        block = max(1, (1 << 25) // max(a.steps, 1))

        def vec(n):
            if published:
                return published.vectorised(a.s0, a.steps + 1, vol, n, rng)
            z = rng.normal(drift, vol, size=(n, a.steps))
            return a.s0 * np.prod(1 + z, axis=1)

        def work():
            if a.paths <= block:
                finals[:] = [vec(a.paths)]
            else:
                finals[:] = [vec(min(block, a.paths - i)) for i in range(0, a.paths, block)]
        what = "NumPy vectorised (normals of all paths at once, then a product per path)"

    proto.serve(f"numpy {np.__version__}, Python {sys.version.split()[0]}, {what}, {source}", work)


if __name__ == "__main__":
    main()
