//! krait's own folders, all under [`krait_home`] (`$KRAIT_HOME`, default `~/.krait`), so every
//! command agrees on where the local channel and build roots are.

use std::path::PathBuf;

/// Where krait keeps its own state when nothing is configured: `$KRAIT_HOME`, else `~/.krait`.
pub fn krait_home() -> PathBuf {
    std::env::var_os("KRAIT_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| super::home_dir().join(".krait"))
}

/// The local build channel (`conda-bld`): where `krait build` writes packages, where
/// `krait render --output` points, and the `local` channel of `--use-local`.
pub fn local_channel_dir() -> PathBuf {
    krait_home().join("conda-bld")
}

/// The default build root (`--croot`) holding work, host and build folders.
pub fn build_root_dir() -> PathBuf {
    krait_home().join("krait-bld")
}

/// Git sources cloned once and reused across builds and renders.
pub fn git_cache_dir() -> PathBuf {
    local_channel_dir().join("git_cache")
}
