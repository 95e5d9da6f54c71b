#!/usr/bin/env bash
# SQLite's autoconf build of the full source tree: the amalgamation is generated (with tclsh),
# then compiled into libsqlite3.so and the sqlite3 shell, with the options conda-forge enables.
set -euo pipefail
command -v tclsh >/dev/null || {
  echo "error: building SQLite from its full source tree needs tclsh on PATH (Debian: tcl)" >&2
  exit 1
}
export CPPFLAGS="-I$PREFIX/include" LDFLAGS="-L$PREFIX/lib -Wl,-rpath,$PREFIX/lib"
export CFLAGS="${CFLAGS:--O2} -DSQLITE_ENABLE_COLUMN_METADATA=1 -DSQLITE_ENABLE_UNLOCK_NOTIFY \
  -DSQLITE_ENABLE_DBSTAT_VTAB=1 -DSQLITE_ENABLE_FTS3_TOKENIZER=1 -DSQLITE_SECURE_DELETE \
  -DSQLITE_MAX_VARIABLE_NUMBER=250000 -DSQLITE_MAX_EXPR_DEPTH=10000 -DSQLITE_ENABLE_RTREE=1"
./configure --prefix="$PREFIX" --disable-static --disable-tcl --disable-readline \
  --disable-editline --enable-fts5 --enable-fts4 --enable-math
make -j"$CPU_COUNT" libsqlite3.la sqlite3
make install
rm -rf "$PREFIX/share" "$PREFIX"/lib/*.la
