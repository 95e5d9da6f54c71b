#!/usr/bin/env bash
# Autotools; shared liblzma only, no translations, docs or the lzma-compat scripts.
set -euo pipefail
./configure --prefix="$PREFIX" --disable-static --disable-nls --disable-doc \
  --disable-lzmadec --disable-lzmainfo --disable-scripts
make -j"$CPU_COUNT"
make install
rm -rf "$PREFIX/share" "$PREFIX"/lib/*.la
