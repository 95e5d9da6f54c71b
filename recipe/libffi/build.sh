#!/usr/bin/env bash
# Autotools; shared only, into $PREFIX/lib (not lib64), no docs.
set -euo pipefail
./configure --prefix="$PREFIX" --disable-static --disable-docs --disable-multi-os-directory
make -j"$CPU_COUNT"
make install
rm -rf "$PREFIX/share" "$PREFIX"/lib/*.la
