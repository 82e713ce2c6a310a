"""The line protocol of a `tandem bench` peer (docs/peers.md), shared by the Python peers here.

A peer sets up (imports, data, model: not timed), then prints `ready <detail>`, or
`skip <package>: <reason>` and exits. Then for each `run` line on stdin it does the work once,
timed here around the work only, and prints `time <seconds>` (the shortest repr of the float). On
EOF it exits 0. Anything else on stdin is an error (exit 2). Messages go to stderr.
"""
import argparse
import ctypes
import signal
import sys
import time

_PR_SET_PDEATHSIG = 1


def die_with_parent():
    """The calling process gets SIGKILL when its parent ends (Linux). Used by processes a peer
    starts itself (a process pool's workers, grep), so nothing outlives tandem."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def skip(package, reason):
    """Says this peer cannot run here, and what would provide it; exits 0."""
    print(f"skip {package}: {' '.join(str(reason).split())}", flush=True)
    sys.exit(0)


def require(module, package):
    """Imports `module`, or skips the peer naming `package` (e.g. "python3-xgboost")."""
    import importlib
    try:
        return importlib.import_module(module)
    except ImportError as e:
        skip(package, e)


def serve(detail, work):
    """Says ready, then runs `work()` once per `run` request and prints its time."""
    print(f"ready {' '.join(detail.split())}", flush=True)
    clock = time.perf_counter
    for line in sys.stdin:
        if line.strip() != "run":
            print(f"peer: unknown request {line.strip()!r} (expected 'run')", file=sys.stderr, flush=True)
            sys.exit(2)
        t0 = clock()
        work()
        t = clock() - t0
        print(f"time {t!r}", flush=True)
    sys.exit(0)


def parser(description):
    """An argument parser whose errors go to stderr and exit 2 (before any protocol line)."""
    return argparse.ArgumentParser(description=description)
