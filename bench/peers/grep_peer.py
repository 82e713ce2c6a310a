#!/usr/bin/python3
"""grep as a peer of `tandem reduce --op count-matches`: `grep -c -F -- PATTERN FILE` with
LC_ALL=C (bytes, as Tandem reads the file), one grep process per run, timed from its start to its
exit (what a user running grep pays, process start included: about a millisecond).

    grep_peer.py --pattern LITERAL --input FILE [--grep grep]
"""
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peer_protocol as proto  # noqa: E402


def main():
    p = proto.parser(__doc__)
    p.add_argument("--pattern", required=True)
    p.add_argument("--input", required=True)
    p.add_argument("--grep", default="grep")
    a = p.parse_args()
    grep = shutil.which(a.grep)
    if not grep:
        proto.skip("grep", f"{a.grep} not found on PATH")
    if not os.path.exists(a.input):
        proto.skip("the input file", f"{a.input} not found")
    version = subprocess.run([grep, "--version"], capture_output=True, text=True).stdout.splitlines()
    env = dict(os.environ, LC_ALL="C")
    argv = [grep, "-c", "-F", "--", os.fsencode(a.pattern), a.input]
    count = []

    def work():
        r = subprocess.run(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           preexec_fn=proto.die_with_parent)
        if r.returncode not in (0, 1):  # 1: no line matched
            print(f"grep_peer: grep failed ({r.returncode}): {r.stderr.decode(errors='replace')}", file=sys.stderr,
                  flush=True)
            sys.exit(1)
        count[:] = [int(r.stdout)]

    work()  # once in the set-up: the count for the detail (and the file in the page cache, as Tandem's)
    proto.serve(f"{version[0] if version else 'grep'}, LC_ALL=C grep -c -F ({count[0]} lines match; a process per run)",
                work)


if __name__ == "__main__":
    main()
