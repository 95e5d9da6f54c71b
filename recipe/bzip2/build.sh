#!/usr/bin/env bash
# bzip2 has no configure: Makefile-libbz2_so builds the shared library (soname libbz2.so.1.0)
# and `bzip2-shared`, the bzip2 tool linked to it; the main Makefile builds bzip2recover.
set -euo pipefail
make -j"$CPU_COUNT" -f Makefile-libbz2_so CC="${CC:-cc}"
make bzip2recover CC="${CC:-cc}" CFLAGS="-O2 -D_FILE_OFFSET_BITS=64"
mkdir -p "$PREFIX/bin" "$PREFIX/lib" "$PREFIX/include"
cp bzlib.h "$PREFIX/include/"
cp "libbz2.so.$PKG_VERSION" "$PREFIX/lib/"
ln -sf "libbz2.so.$PKG_VERSION" "$PREFIX/lib/libbz2.so.1.0"
ln -sf "libbz2.so.$PKG_VERSION" "$PREFIX/lib/libbz2.so.1"
ln -sf "libbz2.so.$PKG_VERSION" "$PREFIX/lib/libbz2.so"
cp bzip2-shared "$PREFIX/bin/bzip2"
cp bzip2recover "$PREFIX/bin/"
for alias in bunzip2 bzcat; do ln -sf bzip2 "$PREFIX/bin/$alias"; done
