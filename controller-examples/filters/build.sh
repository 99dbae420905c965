#!/bin/sh
# Rebuilds the filter objects (conntrack.o, p0f.o, ratelimit.o) from their C
# sources, in place, in the directory that holds this script.
#
# The objects are committed so that loading them needs no clang; CI runs a
# copy of this script in a copy of the directory and fails when the rebuilt
# bytes differ. The build is deterministic: no debug information (which would
# record the build directory) and each source compiled by its relative name
# from this directory (the STT_FILE symbol holds the name as given).
set -eu
cd "$(dirname "$0")"
CLANG=${CLANG:-clang}
for src in conntrack.c p0f.c ratelimit.c; do
	"$CLANG" -O2 -target bpf -Wall -Wextra -c "$src" -o "${src%.c}.o"
done
