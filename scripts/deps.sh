#!/usr/bin/env bash
# Installs the Debian packages Tandem builds, tests and benchmarks with, when any is missing.
# As root it runs apt-get itself; otherwise it prints the exact command and fails.
# Usage: scripts/deps.sh [build|test|bench]
set -euo pipefail
what=${1:-test}
pkgs=(cmake ninja-build g++ libcli11-dev nlohmann-json3-dev librandom123-dev libsimdjson-dev libopenblas-dev libgmp-dev libopenmpi-dev openmpi-bin)
case "$what" in
  build) ;;
  test) pkgs+=(libgtest-dev libgmock-dev libbenchmark-dev libtbb-dev gcovr chromium python3-jsonschema) ;;
  bench) pkgs+=(libbenchmark-dev libtbb-dev python3 python3-numpy libquantlib0-dev python3-sklearn python3-pandas python3-xgboost libxgboost-dev) ;;
  *) echo "deps.sh: unknown set '$what' (build, test or bench)" >&2; exit 2 ;;
esac
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ]; then
  echo "deps.sh: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "deps.sh: missing Debian packages; run: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
