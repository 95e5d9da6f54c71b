#!/usr/bin/env bash
# zlib's own configure script; shared library only (no libz.a), installed under $PREFIX.
set -euo pipefail
./configure --prefix="$PREFIX" --shared
make -j"$CPU_COUNT"
make install
rm -rf "$PREFIX/share/man"
