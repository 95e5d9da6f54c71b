#!/usr/bin/env bash
# OpenSSL's own Configure (perl). Shared libraries into $PREFIX/lib, OPENSSLDIR $PREFIX/ssl
# (a prefix krait relocates), no test programs, no static libraries, no manual pages.
set -euo pipefail
command -v perl >/dev/null || { echo "error: building OpenSSL needs perl on PATH" >&2; exit 1; }
./Configure linux-x86_64 --prefix="$PREFIX" --openssldir="$PREFIX/ssl" --libdir=lib \
  shared no-tests
make -j"$CPU_COUNT"
make install_sw install_ssldirs
rm -f "$PREFIX"/lib/libssl.a "$PREFIX"/lib/libcrypto.a
rm -rf "$PREFIX/ssl/misc"
