#!/bin/sh
# Control-plane benchmark: snapshot compute time with many clusters and hostnames, and the
# gateway's decode and compile of the result.
# Usage: bench/control.sh [CLUSTERS [HOSTNAMES [RUNS [auto|named|weighted]]]]   (defaults 1000 100 5 auto)
# Builds bench/control/snapshot_bench.c (CMake target bench_control) and prints figures.
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
# always: a stale library would measure old code; the target links what libcg links
make build BUILD="$BUILD" >/dev/null
cmake --build "$BUILD" --target bench_control -j 2 >/dev/null
exec "$BUILD/bench_control" "$@"
