//! `krait render` as the render tests run it (after ripgrep's `tests/util.rs`): a recipe folder
//! written from text, and a `krait render RECIPE` command with a clean environment (only `PATH`)
//! whose outcome is asserted: success with its stdout or JSON, or failure with its stderr.

use std::ffi::OsStr;
use std::path::Path;
use std::process::{Command, Output};

/// A temporary recipe folder holding `meta.yaml` with `text`.
pub fn recipe(text: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("meta.yaml"), text).unwrap();
    dir
}

/// `krait render RECIPE`, its environment cleared but for `PATH`.
pub fn render(recipe: &Path) -> Render {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_krait"));
    cmd.arg("render")
        .arg(recipe)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    Render { cmd }
}

/// A `krait render` command being set up; the finishing methods run it and assert its outcome.
pub struct Render {
    cmd: Command,
}

impl Render {
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.cmd.args(args);
        self
    }

    /// `--platform PLATFORM`.
    pub fn platform(self, platform: &str) -> Self {
        self.args(["--platform", platform])
    }

    pub fn env(mut self, key: &str, value: impl AsRef<OsStr>) -> Self {
        self.cmd.env(key, value);
        self
    }

    pub fn current_dir(mut self, dir: &Path) -> Self {
        self.cmd.current_dir(dir);
        self
    }

    /// Runs it, whatever the outcome.
    pub fn output(mut self) -> Output {
        self.cmd.output().expect("run krait")
    }

    /// Runs it; it must succeed (the command and its stderr are shown otherwise).
    pub fn ok(self) -> Output {
        let command = format!("{:?}", self.cmd);
        let out = self.output();
        assert!(
            out.status.success(),
            "{command} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// The stdout of a successful run.
    pub fn stdout(self) -> String {
        String::from_utf8(self.ok().stdout).expect("utf-8 stdout")
    }

    /// The parsed output of a successful run with `--json`.
    pub fn json(self) -> serde_json::Value {
        let out = self.args(["--json"]).ok();
        serde_json::from_slice(&out.stdout).expect("krait render --json prints JSON")
    }

    /// The stderr of a run that must fail (its stdout is shown when it succeeds).
    pub fn err(self) -> String {
        let out = self.output();
        assert!(
            !out.status.success(),
            "expected failure, got:\n{}",
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8(out.stderr).expect("utf-8 stderr")
    }
}
