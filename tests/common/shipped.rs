//! `channels/local`, the channel of the recipes we ship (`recipe/`), as `scripts/build-channel`
//! builds it with this build's krait: built once per test binary, and only the recipes whose
//! inputs changed (nothing at all when `scripts/demo` or an earlier test run built it).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn target() -> &'static Path {
    Path::new(env!("CARGO_TARGET_TMPDIR")).parent().unwrap()
}

/// krait's home for building the channel (build folders, source cache), kept between runs;
/// scripts/test builds the channel with the same one before the tests, so that the sources are
/// fetched there and not by a test.
pub fn build_home() -> PathBuf {
    target().join("build-channel-home")
}

/// The built `channels/local`.
pub fn local_channel() -> &'static Path {
    static CHANNEL: OnceLock<PathBuf> = OnceLock::new();
    CHANNEL.get_or_init(|| {
        let status = Command::new(repo().join("scripts/build-channel"))
            .env("KRAIT", env!("CARGO_BIN_EXE_krait"))
            // Cargo's cache for imgpipe: this build's target folder.
            .env("KRAIT_CARGO_TARGET_DIR", target())
            .env("KRAIT_HOME", build_home())
            .status()
            .expect("scripts/build-channel runs");
        assert!(status.success(), "scripts/build-channel failed");
        repo().join("channels/local")
    })
}

/// The version of the `python` package in the channel.
pub fn python_version() -> String {
    let text = std::fs::read_to_string(local_channel().join("linux-64/repodata.json")).unwrap();
    let repodata: serde_json::Value = serde_json::from_str(&text).unwrap();
    repodata["packages.conda"]
        .as_object()
        .unwrap()
        .values()
        .find(|p| p["name"] == "python")
        .expect("python in channels/local")["version"]
        .as_str()
        .unwrap()
        .to_string()
}
