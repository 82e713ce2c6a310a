#!/bin/sh
# Tandem's Monte Carlo against its peers, in one run, interleaved, so a noisy machine moves both:
# QuantLib 1.29's MCEuropeanEngine (European call, 252 steps), the published Ray example's Python
# loop and its NumPy vectorisation (10,000 paths x 252 days, sigma 0.02). Prints each time and the
# ratios workloads/montecarlo/README.md quotes.
#
# usage: workloads/montecarlo/montecarlo_peers.sh [BUILD_DIR] [PEERS_DIR] [ROUNDS]
set -eu
build=${1:-build}
peers=${2:-../shared/peers}
rounds=${3:-3}
tandem="$build/cli/tandem"
py=/usr/bin/python3
[ -x "$tandem" ] || { echo "montecarlo_peers: $tandem not built" >&2; exit 2; }
[ -d "$peers" ] || { echo "montecarlo_peers: peers folder $peers not found" >&2; exit 2; }

ql="$build/peers/quantlib_mc"
if [ ! -x "$ql" ]; then
  mkdir -p "$build/peers"
  g++ -O2 -std=c++17 "$peers/quantlib_mc.cpp" -lQuantLib -o "$ql"
fi

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
# Median time of a Tandem run, from its JSON document.
median() { "$py" -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["results"][0]["time_s"]["median"])' "$1"; }

i=0
while [ "$i" -lt "$rounds" ]; do
  i=$((i + 1))
  "$tandem" montecarlo --backend threads --workers 2 --paths 10000 --steps 252 --option call --sigma 0.2 \
    --dt 0.003968253968253968 --rate 0.05 --strike 100 --repeat 21 --warmup 3 --json > "$out/call.json"
  "$ql" 10000 > "$out/ql.txt"
  "$tandem" montecarlo --backend threads --workers 2 --repeat 21 --warmup 3 --json > "$out/gbm.json"
  "$tandem" montecarlo --backend threads --workers 2 --model arithmetic --repeat 21 --warmup 3 --json > "$out/arith.json"
  "$py" "$peers/python_montecarlo.py" 10000 > "$out/py.txt"
  "$tandem" montecarlo --backend threads --workers 2 --paths 1000000 --repeat 5 --json > "$out/big.json"

  call=$(median "$out/call.json"); gbm=$(median "$out/gbm.json"); arith=$(median "$out/arith.json")
  big=$(median "$out/big.json")
  ql_t=$(sed -n 's/.*time=\([0-9.e-]*\)s.*/\1/p' "$out/ql.txt")
  loop=$(sed -n 's/.*python_loop=\([0-9.]*\)s.*/\1/p' "$out/py.txt")
  np=$(sed -n 's/.*numpy_vectorised=\([0-9.]*\)s.*/\1/p' "$out/py.txt")
  echo "round $i: $(cat "$out/ql.txt")"
  echo "round $i: $(cat "$out/py.txt")"
  "$py" - "$call" "$ql_t" "$gbm" "$arith" "$np" "$loop" "$big" <<'PY'
import sys
call, ql, gbm, arith, np_, loop, big = map(float, sys.argv[1:])
print(f"  tandem threads x2, 10,000 x 252: european call {call*1e3:.2f} ms, gbm {gbm*1e3:.2f} ms, arithmetic {arith*1e3:.2f} ms")
print(f"  QuantLib MCEuropeanEngine / tandem call: {ql/call:.0f}x")
print(f"  NumPy vectorised / tandem arithmetic:    {np_/arith:.1f}x   (/ tandem gbm: {np_/gbm:.1f}x)")
print(f"  Python loop / tandem arithmetic:         {loop/arith:.0f}x")
print(f"  1,000,000 x 252 on 2 threads: {big*1e3:.1f} ms = {1e6*252/big:.3g} path-steps/s")
PY
done
