#!/bin/sh
# run.sh — the whole benchmark in one command: builds ebmc if needed, then
# runs bench/run_bench.py, which writes $BUILD/bench/results.md.
#   bench/run.sh [--quick] [--cases mlp784_b128,...] [--threads 1,2] [--rounds R]
# BUILD (default: build/ in the repository) is the CMake build folder to use.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$root/build}
if [ ! -x "$build/bin/ebmc" ] || [ ! -x "$build/bin/ebm" ] || [ ! -f "$build/lib/libebm.a" ]; then
    cmake -S "$root" -B "$build" >/dev/null
    cmake --build "$build" -j2 --target ebmc ebm_cli ebm >/dev/null
fi
exec /usr/bin/python3 "$root/bench/run_bench.py" --build "$build" "$@"
