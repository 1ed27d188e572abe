#!/bin/sh
# Control-plane benchmark: snapshot compute time with many clusters and hostnames, and the
# gateway's decode and compile of the result.
# Usage: bench/control.sh [CLUSTERS [HOSTNAMES [RUNS [auto|named|weighted]]]]   (defaults 1000 100 5 auto)
# Builds bench/control/snapshot_bench.c against the library of `make build` and prints figures.
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
# always: a stale library would measure old code
make build BUILD="$BUILD" >/dev/null
out="$BUILD/control_bench"
cc -O2 -g -D_GNU_SOURCE -std=gnu11 -Isrc -I/usr/share/include/llhttp bench/control/snapshot_bench.c \
   "$BUILD/libcg.a" "$BUILD/libllhttp.a" $(pkg-config --cflags --libs libfyaml sqlite3 libcrypto) -lm -lpthread -o "$out"
exec "$out" "$@"
