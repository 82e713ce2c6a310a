#!/usr/bin/python3
"""The published concurrent.futures example as a peer of `tandem tasks`: COUNT tasks of
sum(i*i for i < N), run sequentially, on a ThreadPoolExecutor or on a ProcessPoolExecutor
(--variant seq|threads|procs), each with os.cpu_count() workers as the example has.

    tasks_peer.py --n N --count COUNT --variant seq|threads|procs [--published DIR]

cpu_bound_task comes from DIR/python_pools.py when given (the published file, ../shared/peers),
else the same one-line function below. As in the example, a pool is created and shut down inside
each timed run (its start-up is part of the time). One difference: the process pool's workers are
given an initializer that makes them die with the peer (so none outlives tandem); it costs
microseconds per worker.
"""
import concurrent.futures
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peer_protocol as proto  # noqa: E402


def cpu_bound_task(n):
    return sum(i * i for i in range(n))


def main():
    p = proto.parser(__doc__)
    p.add_argument("--n", type=int, required=True)
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--variant", choices=["seq", "threads", "procs"], required=True)
    p.add_argument("--published", default="")
    a = p.parse_args()
    task, source = cpu_bound_task, "the same function as the published example"
    if a.published and os.path.exists(os.path.join(a.published, "python_pools.py")):
        sys.path.insert(0, a.published)
        import python_pools
        task, source = python_pools.cpu_bound_task, "cpu_bound_task from " + os.path.join(a.published, "python_pools.py")
    workers = os.cpu_count()
    inputs = [a.n] * a.count
    expected = a.count * ((a.n - 1) * a.n * (2 * a.n - 1) // 6) if a.n > 0 else 0
    results = []

    if a.variant == "seq":
        def work():
            results[:] = [task(x) for x in inputs]
        what = "sequential list comprehension"
    elif a.variant == "threads":
        def work():
            with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as ex:
                results[:] = list(ex.map(task, inputs))
        what = f"ThreadPoolExecutor({workers} workers, created per run)"
    else:
        def work():
            with concurrent.futures.ProcessPoolExecutor(max_workers=workers, initializer=proto.die_with_parent) as ex:
                results[:] = list(ex.map(task, inputs))
        what = f"ProcessPoolExecutor({workers} workers, created per run)"

    def checked():
        work()
        if sum(results) != expected:
            print("tasks_peer: wrong sum", file=sys.stderr, flush=True)
            sys.exit(1)

    proto.serve(f"Python {sys.version.split()[0]}, {what}, {source}", checked)


if __name__ == "__main__":
    main()
