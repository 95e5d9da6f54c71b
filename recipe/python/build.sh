#!/usr/bin/env bash
# Repackages an installed CPython into $PREFIX: interpreter, libpython, the standard library
# (without tests, IDLE, tkinter and site-packages content; ensurepip kept so `python -m venv`
# works). RUNPATHs become $ORIGIN-relative and the install prefix in the sysconfig data is
# replaced by $PREFIX, which krait then records as a prefix placeholder.
set -euo pipefail
source_python=${KRAIT_PYTHON_SOURCE:-python3}
if ! command -v "$source_python" >/dev/null; then
  echo "error: no CPython to repackage: $source_python is not on PATH (set KRAIT_PYTHON_SOURCE)" >&2
  exit 1
fi
found=$("$source_python" -c 'import platform; print(platform.python_version())')
if [ "$found" != "$PKG_VERSION" ]; then
  echo "error: $source_python is CPython $found but recipe/python/meta.yaml says $PKG_VERSION:" \
       "set the recipe's version to $found or point KRAIT_PYTHON_SOURCE at a $PKG_VERSION interpreter" >&2
  exit 1
fi
base=$("$source_python" -c 'import sys; print(sys.base_prefix)')
minor=${PKG_VERSION%.*}
stdlib=lib/python$minor
libpython=libpython$minor.so.1.0
for needed in "$base/bin/python$minor" "$base/lib/$libpython" "$base/$stdlib/os.py"; do
  [ -e "$needed" ] || { echo "error: $base is not a shared-library CPython install: $needed is missing" >&2; exit 1; }
done

mkdir -p "$PREFIX/bin" "$PREFIX/lib" "$PREFIX/$stdlib/site-packages"
cp "$base/bin/python$minor" "$PREFIX/bin/python$minor"
ln -sf "python$minor" "$PREFIX/bin/python3"
ln -sf "python$minor" "$PREFIX/bin/python"
cp "$base/lib/$libpython" "$PREFIX/lib/$libpython"
ln -sf "$libpython" "$PREFIX/lib/libpython$minor.so"
(cd "$base/$stdlib" && find . \
    \( -name test -o -name tests -o -name idlelib -o -name tkinter -o -name turtledemo \
       -o -name lib2to3 -o -name __pycache__ -o -name 'config-*' -o -path ./site-packages \) -prune \
    -o -type f -print) |
  while read -r file; do
    mkdir -p "$PREFIX/$stdlib/$(dirname "$file")"
    cp "$base/$stdlib/$file" "$PREFIX/$stdlib/$file"
  done
echo "site-packages of the packaged interpreter" > "$PREFIX/$stdlib/site-packages/README.txt"

patchelf --set-rpath '$ORIGIN/../lib' "$PREFIX/bin/python$minor"
for ext in "$PREFIX/$stdlib"/lib-dynload/*.so; do
  patchelf --set-rpath '$ORIGIN/../..' "$ext"
done
grep -rlI --null -F "$base" "$PREFIX/$stdlib" | xargs -0 -r sed -i "s|$base|$PREFIX|g"
"$PREFIX/bin/python" -c 'import sys, ssl, sqlite3, ensurepip; print(sys.version)'
