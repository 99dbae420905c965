#!/bin/sh
# Rebuilds every test object from its C source and refreshes the fuzz seeds.
#
# The objects are committed so that `cargo test` needs no clang; CI runs this
# script and fails if the rebuilt bytes differ. The output is deterministic:
# sources are compiled from this directory by relative name (the STT_FILE
# symbol holds the name as given), and the one debug build maps the build
# directory to "." (DWARF records it otherwise).
set -eu
cd "$(dirname "$0")"
CLANG=${CLANG:-clang}
for src in *.c; do
	"$CLANG" -O2 -target bpf -c "$src" -o "${src%.c}.o"
done
# The same program with BTF and DWARF, whose sections and relocations
# (R_BPF_64_ABS64, R_BPF_64_NODYLD32) the loader must ignore.
"$CLANG" -O2 -g -fdebug-prefix-map="$PWD"=. -target bpf -c legacy_maps.c -o legacy_maps_btf.o
seeds=../../../fuzz/corpus/bpf_elf
if [ -d "$seeds" ]; then
	cp ./*.o "$seeds"/
fi
