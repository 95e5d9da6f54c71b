//! pip, build backends and other wheels of scripts/test-wheels.txt as a channel of `noarch:
//! python` packages that krait makes itself (`krait skeleton pypi --wheel` + `krait build`),
//! for builds that need them in their host environment; the wheels and sdists are downloaded
//! by `scripts/test` into KRAIT_TEST_WHEELS and KRAIT_TEST_SDISTS.

use super::{krait, run_ok};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// The files ending in `suffix` in the folder named by the environment variable `var`.
pub fn downloaded(var: &str, suffix: &str) -> Vec<PathBuf> {
    let dir = std::env::var_os(var).unwrap_or_else(|| {
        panic!("{var} is not set: run the tests through scripts/test, which downloads the files")
    });
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(suffix))
        .collect();
    files.sort();
    files
}

/// Lines of a requirements-style list that name a package.
pub fn listed(text: &str) -> usize {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .count()
}

/// Writes recipes with `krait skeleton pypi --json <option> FILE...`; returns what it reports.
pub fn skeleton(home: &Path, out: &Path, option: &str, files: &[PathBuf]) -> Vec<Value> {
    let mut cmd = krait(home);
    cmd.args(["skeleton", "pypi", "--json", "--output-dir"])
        .arg(out);
    for file in files {
        cmd.arg(option).arg(file);
    }
    let written: Value = serde_json::from_str(&run_ok(&mut cmd)).unwrap();
    written.as_array().unwrap().clone()
}

/// Builds every recipe folder under `recipes` in one `krait build` (which orders them by their
/// dependencies), without the recipes' own tests; returns the archives it reports.
pub fn build_all(home: &Path, recipes: &Path, channels: &[&Path], out: &Path) -> Vec<PathBuf> {
    let mut cmd = krait(home);
    cmd.arg("build");
    let mut folders: Vec<PathBuf> = std::fs::read_dir(recipes)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    folders.sort();
    cmd.args(&folders)
        .args(["--json", "--no-test", "--override-channels", "--python"])
        .arg(super::python::python_minor())
        .arg("--output-folder")
        .arg(out);
    for channel in channels {
        cmd.arg("-c").arg(channel);
    }
    let built: Vec<Value> = serde_json::from_str(&run_ok(&mut cmd)).unwrap();
    built
        .iter()
        .map(|b| PathBuf::from(b["archive"].as_str().unwrap()))
        .collect()
}

/// The bootstrap channel: each wheel of scripts/test-wheels.txt as a noarch package. Built
/// once per list of wheels, python and krait binary (they take minutes on a busy machine).
pub fn bootstrap_channel(python: &Path) -> PathBuf {
    let list = include_str!("../../scripts/test-wheels.txt");
    let key = hex::encode(
        rattler_digest::compute_bytes_digest::<rattler_digest::Sha256>(format!(
            "{list}{}",
            python.display()
        )),
    );
    super::built_once(&format!("skeleton-bootstrap-{}", &key[..12]), |channel| {
        let wheels = downloaded("KRAIT_TEST_WHEELS", ".whl");
        assert_eq!(
            wheels.len(),
            listed(list),
            "every listed wheel was downloaded"
        );
        let home = tempfile::tempdir().unwrap();
        let recipes = home.path().join("recipes");
        let written = skeleton(home.path(), &recipes, "--wheel", &wheels);
        assert!(written.iter().all(|w| w["noarch"] == true), "{written:?}");
        let archives = build_all(home.path(), &recipes, &[python], channel);
        assert_eq!(archives.len(), wheels.len(), "{archives:?}");
    })
}
