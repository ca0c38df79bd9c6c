#!/bin/sh
# Runs the benchmarks (bench/README.md): builds bench/zerowork and bench/loadgen, then
# bench/run.py starts its own Prosody, the zero-work component and the gateway on loopback,
# prints the table and writes bench/results.json.  Everything it starts, it stops.
set -eu
cd "$(dirname "$0")/.."
make -s bench/zerowork bench/loadgen
exec /usr/bin/python3 bench/run.py "$@"
