#!/usr/bin/env bash
# CPython from its release tarball, shared libpython, against the libraries of the host prefix
# only: pkg-config and the compiler look in $PREFIX, and the extension modules whose libraries
# this channel does not carry (tkinter, curses, readline, dbm/gdbm, nis, crypt, uuid) are
# disabled, so that nothing links a library found only on the build machine. No PGO or LTO,
# no test suite: the build stays within minutes.
set -euo pipefail
export PKG_CONFIG_LIBDIR="$PREFIX/lib/pkgconfig" PKG_CONFIG_PATH=""
export CPPFLAGS="-I$PREFIX/include"
export LDFLAGS="-L$PREFIX/lib -Wl,-rpath,$PREFIX/lib"
# configure skips the modules marked n/a; setup.py (which 3.11 still uses for some) skips the
# ones listed after *disabled* in Modules/Setup.local.
disabled="_tkinter _curses _curses_panel readline _dbm _gdbm nis _crypt _uuid"
for module in $disabled; do
  export "py_cv_module_${module}=n/a"
done
{ echo '*disabled*'; printf '%s\n' $disabled; } > Modules/Setup.local
# A release tarball carries its generated files: a Python found on PATH is never needed, and
# `false` makes any attempt to regenerate something fail loudly instead of using it.
./configure --prefix="$PREFIX" --enable-shared --with-openssl="$PREFIX" --with-system-ffi \
  --with-ensurepip=no --disable-test-modules --without-static-libpython PYTHON_FOR_REGEN=false
make -j"$CPU_COUNT"
make install
minor=${PKG_VERSION%.*}
stdlib="$PREFIX/lib/python$minor"
# What conda-forge's python leaves out too: the test suite (installed by `make install` even
# with --disable-test-modules), IDLE, tkinter and turtledemo (no Tk), and the config-* static
# build support.
rm -rf "$stdlib"/test "$stdlib"/idlelib "$stdlib"/tkinter "$stdlib"/turtledemo \
  "$stdlib"/lib2to3/tests "$PREFIX"/bin/idle3*
ln -sf "python$minor" "$PREFIX/bin/python"
ln -sf "python$minor-config" "$PREFIX/bin/python-config"
# Every extension module that was meant to build did: a missing one fails here, not later.
"$PREFIX/bin/python" -c 'import ssl, sqlite3, lzma, bz2, zlib, ctypes, hashlib, decimal, json, _ssl; ssl.create_default_context()'
