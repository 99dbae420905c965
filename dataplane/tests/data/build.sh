#!/bin/sh
# Rebuilds the dataplane's test filter programs from their C sources.
# The objects are committed so that `cargo test` needs no clang; CI runs this
# script (scripts/check-bpf-objects) and fails if the rebuilt bytes differ.
set -eu
cd "$(dirname "$0")"
CLANG=${CLANG:-clang}
for src in *.c; do
	"$CLANG" -O2 -target bpf -c "$src" -o "${src%.c}.o"
done
