# The Python peer of bench_procs: CPython's concurrent.futures.ProcessPoolExecutor on the same
# measurements. Pool start (2 workers, until both have answered), one no-op task's round trip
# (submit + result), the per-task cost of map() with batching (chunksize), and a 200 MB bytes
# argument sent to a worker (pickled through a pipe).
#   /usr/bin/python3 bench/peer_process_pool.py [ROUND_TRIPS]
import concurrent.futures as cf
import statistics
import sys
import time


def noop(x=None):
    return x


def length(b):
    return len(b)


def median_of(f, repeat=5):
    runs = []
    for _ in range(repeat):
        t = time.perf_counter()
        f()
        runs.append(time.perf_counter() - t)
    return statistics.median(runs), min(runs), max(runs)


def main():
    trips = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
    # Start: until both workers have run a task (they start lazily in CPython >= 3.9).
    def start():
        with cf.ProcessPoolExecutor(max_workers=2) as ex:
            list(ex.map(noop, range(2)))
    s = median_of(start, 5)
    print(f"python ProcessPoolExecutor start(2 workers, first results): median {s[0]*1e3:.2f} ms")
    with cf.ProcessPoolExecutor(max_workers=1) as ex:
        for _ in range(1000):
            ex.submit(noop).result()
        def rt():
            for _ in range(trips):
                ex.submit(noop).result()
        m = median_of(rt)
        print(f"python ProcessPoolExecutor round_trip(1 worker): median {m[0]/trips*1e6:.2f} us"
              f" (min {m[1]/trips*1e6:.2f}, max {m[2]/trips*1e6:.2f})")
    with cf.ProcessPoolExecutor(max_workers=2) as ex:
        list(ex.map(noop, range(1000)))
        n = 100_000
        def batched():
            list(ex.map(noop, range(n), chunksize=1000))
        m = median_of(batched)
        print(f"python ProcessPoolExecutor map(100000 tasks, chunksize 1000, 2 workers): median {m[0]/n*1e9:.0f} ns/task")
    with cf.ProcessPoolExecutor(max_workers=1) as ex:
        ex.submit(noop).result()
        data = bytes(200 << 20)
        def send():
            assert ex.submit(length, data).result() == len(data)
        m = median_of(send, 3)
        print(f"python ProcessPoolExecutor 200MB argument to a worker: median {m[0]*1e3:.1f} ms, {len(data)/m[0]/1e9:.2f} GB/s")


if __name__ == "__main__":
    main()
