//! The root `meta.yaml`: krait packages itself. It renders at the workspace's version, and
//! `krait build .` builds it (cargo profile `dogfood`: unoptimised, see Cargo.toml), tests
//! `krait --version`, and the package installs and runs.
//!
//! Cargo's cache for that build is a folder of its own that persists between runs: it cannot be
//! the tests' target folder, where the clone of HEAD would compile to the very artifacts (same
//! crate hashes) the tests run, and leave them looking fresher than uncommitted edits.

mod common;

use common::{krait, run_ok};
use std::path::{Path, PathBuf};

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `$VAR`, or `~/default` of the real HOME.
fn toolchain_dir(var: &str, default: &str) -> PathBuf {
    std::env::var_os(var).map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(std::env::var_os("HOME").expect("HOME is set")).join(default)
    })
}

#[test]
fn root_meta_yaml_renders_krait_at_the_workspace_version() {
    let home = tempfile::tempdir().unwrap();
    let text = run_ok(krait(home.path()).arg("render").arg(repo()).arg("--json"));
    let rendered: serde_json::Value = serde_json::from_str(&text).unwrap();
    let output = &rendered[0]["outputs"][0];
    assert_eq!(output["package"]["name"], "krait");
    assert_eq!(output["package"]["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(rendered[0]["source"][0]["git_url"], ".");
    assert_eq!(output["build"]["include_recipe"], false, "{output:#}");
}

#[test]
fn krait_builds_itself_and_the_package_runs() {
    let work = tempfile::tempdir().unwrap();
    let home = work.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let channel = work.path().join("channel");
    let cargo_target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("dogfood-target");
    run_ok(
        krait(&home)
            .arg("build")
            .arg(repo())
            .args(["--override-channels", "--quiet", "--output-folder"])
            .arg(&channel)
            .env("KRAIT_CARGO_PROFILE", "dogfood")
            .env("KRAIT_CARGO_TARGET_DIR", &cargo_target)
            .env("CARGO_NET_OFFLINE", "true")
            // krait() isolates HOME: keep cargo and rustup pointed at the real toolchain.
            .env("CARGO_HOME", toolchain_dir("CARGO_HOME", ".cargo"))
            .env("RUSTUP_HOME", toolchain_dir("RUSTUP_HOME", ".rustup")),
    );
    let version = env!("CARGO_PKG_VERSION");
    assert!(channel
        .join(format!("linux-64/krait-{version}-0.conda"))
        .is_file());
    let env = work.path().join("env");
    run_ok(
        krait(&home)
            .args(["create", "-q", "-y", "-p"])
            .arg(&env)
            .arg("-c")
            .arg(&channel)
            .args(["--override-channels", "krait"]),
    );
    let printed = run_ok(std::process::Command::new(env.join("bin/krait")).arg("--version"));
    assert_eq!(printed.trim(), format!("krait {version}"));
}
