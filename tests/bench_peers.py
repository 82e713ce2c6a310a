#!/usr/bin/python3
"""Every peer of bench/peers at a tiny size, through the protocol (docs/peers.md): its first line
is `ready <detail>` or `skip <package>: <reason>` (a package named); a ready peer answers two `run`
requests with positive times and exits 0 on EOF. The C++ peers too, when built (--bin DIR).

    bench_peers.py [--bin DIR_OF_TANDEM]      prints "bench_peers: OK" when every peer behaved
"""
import argparse
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
PEERS = os.path.join(os.path.dirname(HERE), "bench", "peers")
PY = "/usr/bin/python3"


def check(name, argv):
    p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = p.stdout.readline().rstrip("\n")
        if first.startswith("skip "):
            rest = first[5:]
            assert ": " in rest and rest.split(": ")[0], f"{name}: skip line names no package: {first!r}"
            assert p.wait(timeout=60) == 0, f"{name}: skip then exit status {p.returncode}"
            print(f"  {name}: skipped ({rest})")
            return "skip"
        assert first.startswith("ready"), f"{name}: first line {first!r}; stderr: {p.stderr.read()[-300:]}"
        times = []
        for _ in range(2):
            p.stdin.write("run\n")
            p.stdin.flush()
            line = p.stdout.readline().rstrip("\n")
            assert line.startswith("time "), f"{name}: answered {line!r}; stderr: {p.stderr.read()[-300:]}"
            t = float(line[5:])
            assert t > 0, f"{name}: time {line!r}"
            times.append(t)
        p.stdin.close()
        assert p.wait(timeout=60) == 0, f"{name}: exit status {p.returncode} after EOF"
        print(f"  {name}: {first[6:]} | times {times}")
        return "ready"
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="")
    ap.add_argument("--published", default=os.path.join(os.path.dirname(os.path.dirname(HERE)), "shared", "peers"))
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        text = os.path.join(tmp, "log.txt")
        with open(text, "w") as f:
            for i in range(5000):
                f.write(f"{i} {'ERROR' if i % 7 == 0 else 'ok'} line\n")
        pub = ["--published", a.published] if os.path.isdir(a.published) else []
        s = lambda script, *args: [PY, os.path.join(PEERS, script), *args]  # noqa: E731
        peers = {
            "tasks seq": s("tasks_peer.py", "--n", "1000", "--count", "3", "--variant", "seq", *pub),
            "tasks threads": s("tasks_peer.py", "--n", "1000", "--count", "3", "--variant", "threads", *pub),
            "tasks procs": s("tasks_peer.py", "--n", "1000", "--count", "3", "--variant", "procs"),
            "montecarlo loop": s("montecarlo_peer.py", "--paths", "20", "--steps", "10", "--variant", "loop", *pub),
            "montecarlo numpy": s("montecarlo_peer.py", "--paths", "200", "--steps", "10", "--variant", "numpy"),
            "reduce sum": s("reduce_numpy.py", "--op", "sum", "--n", "1000", "--dist", "uniform"),
            "reduce var f32": s("reduce_numpy.py", "--op", "var", "--n", "1000", "--dtype", "f32"),
            "grep": s("grep_peer.py", "--pattern=ERROR", "--input=" + text),
            "grep dash pattern": s("grep_peer.py", "--pattern=-x", "--input=" + text),
            "gemm numpy": s("gemm_numpy.py", "--m", "30", "--n", "20", "--k", "10"),
            "forest xgboost": s("forest_peer.py", "--library", "xgboost", "--rows", "500", "--train-rows", "500",
                                "--trees", "5", "--depth", "3"),
            "forest sklearn": s("forest_peer.py", "--library", "sklearn", "--rows", "500", "--train-rows", "500",
                                "--trees", "5", "--depth", "3", "--threads", "2"),
            "forest lightgbm": s("forest_peer.py", "--library", "lightgbm", "--rows", "500", "--train-rows", "500",
                                 "--trees", "5", "--depth", "3"),
        }
        if a.bin:
            gemm = os.path.join(a.bin, "tandem-peer-openblas-gemm")
            assert os.access(gemm, os.X_OK), f"{gemm} was not built"
            peers["openblas gemm"] = [gemm, "--m", "30", "--n", "20", "--k", "10", "--threads", "2"]
            peers["openblas sgemm"] = [gemm, "--m", "30", "--n", "20", "--k", "10", "--dtype", "f32"]
            ql = os.path.join(a.bin, "tandem-peer-quantlib-mc")
            if os.access(ql, os.X_OK):
                peers["quantlib mc"] = [ql, "--paths", "100", "--steps", "10"]
            else:
                print("  quantlib mc: not built (libquantlib0-dev)")
        scripts = {os.path.basename(v[1]) for v in peers.values() if v[0] == PY}
        on_disk = {f for f in os.listdir(PEERS) if f.endswith(".py") and f != "peer_protocol.py"}
        assert on_disk <= scripts, f"peers with no check here: {sorted(on_disk - scripts)}"
        for name, argv in peers.items():
            check(name, argv)
    print("bench_peers: OK")


if __name__ == "__main__":
    main()
