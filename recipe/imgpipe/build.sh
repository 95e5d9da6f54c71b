#!/usr/bin/env bash
# pipeline/ is a member of the repository's cargo workspace: give the copied crate the
# workspace's package fields, release profile and Cargo.lock, so it builds on its own with the
# same versions and flags (and reuses a workspace build's cached dependencies).
set -euo pipefail
repo="$RECIPE_DIR/../.."
if [ "$(grep -m1 '^version' "$repo/Cargo.toml" | cut -d'"' -f2)" != "$PKG_VERSION" ]; then
  echo "error: recipe/imgpipe/meta.yaml says $PKG_VERSION but the workspace Cargo.toml says otherwise: keep them equal" >&2
  exit 1
fi
sed -i -e "s/^version.workspace = true/version = \"$PKG_VERSION\"/" \
       -e 's/^edition.workspace = true/edition = "2021"/' \
       -e 's/^license.workspace = true/license = "BSD-3-Clause"/' Cargo.toml
printf '\n[workspace]\n\n' >> Cargo.toml
awk '/^\[/ { keep = ($0 == "[profile.release]") } keep' "$repo/Cargo.toml" >> Cargo.toml
cp "$repo/Cargo.lock" Cargo.lock
export CARGO_TARGET_DIR="${KRAIT_CARGO_TARGET_DIR:-$repo/target}"
# Rust programs link the unwinder of libgcc_s.so.1 (gcc's runtime, which no package of this
# channel provides and a bare glibc system lacks). Linked statically instead (libgcc_eh.a, as
# Rust's crt-static targets do), imgpipe needs glibc's libraries only. `cargo rustc` gives
# these flags to the final link alone: dependencies keep their cached builds.
static_libgcc="$SRC_DIR/static-libgcc"
mkdir -p "$static_libgcc"
ln -sf "$(${CC:-cc} -print-file-name=libgcc_eh.a)" "$static_libgcc/libgcc_s.a"
cargo rustc --release --bin imgpipe -- -C link-arg=-static-libgcc -L "native=$static_libgcc"
mkdir -p "$PREFIX/bin"
cp "$CARGO_TARGET_DIR/release/imgpipe" "$PREFIX/bin/imgpipe"
