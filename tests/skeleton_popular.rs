//! `krait skeleton pypi --sdist` over real sdists of popular pure-Python packages, which
//! `scripts/test` downloads once (scripts/test-sdists.txt) into KRAIT_TEST_SDISTS.

mod common;

use common::{krait, run_ok};
use rattler_conda_types::{MatchSpec, ParseStrictness};
use std::path::PathBuf;

fn sdists() -> Vec<PathBuf> {
    let dir = std::env::var_os("KRAIT_TEST_SDISTS").unwrap_or_else(|| {
        panic!("KRAIT_TEST_SDISTS is not set: run the tests through scripts/test, which downloads the sdists")
    });
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".tar.gz"))
        .collect();
    files.sort();
    files
}

#[test]
fn popular_pure_packages_become_noarch_python_recipes() {
    let sdists = sdists();
    let wanted = include_str!("../scripts/test-sdists.txt")
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .count();
    assert_eq!(sdists.len(), wanted, "every listed sdist was downloaded");
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("recipes");
    let mut cmd = krait(tmp.path());
    cmd.args(["skeleton", "pypi", "--json", "--output-dir"])
        .arg(&out);
    for sdist in &sdists {
        cmd.arg("--sdist").arg(sdist);
    }
    let written: serde_json::Value = serde_json::from_str(&run_ok(&mut cmd)).unwrap();
    let written = written.as_array().unwrap();
    assert_eq!(written.len(), sdists.len());
    for (recipe, sdist) in written.iter().zip(&sdists) {
        let name = recipe["name"].as_str().unwrap();
        let text = std::fs::read_to_string(recipe["path"].as_str().unwrap()).unwrap();
        let sha = hex::encode(
            rattler_digest::compute_bytes_digest::<rattler_digest::Sha256>(
                std::fs::read(sdist).unwrap(),
            ),
        );
        assert!(text.contains(&format!("sha256: {sha}")), "{name}: {text}");
        assert!(
            text.contains("  imports:\n    - "),
            "{name} has test imports"
        );
        assert!(text.contains("    - pip check"), "{name}");
        assert!(
            text.contains("  license_file:"),
            "{name} has a license file"
        );
        let mut per_os = false;
        for line in recipe["run"].as_array().unwrap() {
            let line = line.as_str().unwrap();
            let (spec, selector) = line.split_once("  # ").unwrap_or((line, ""));
            per_os |= selector.contains("win");
            MatchSpec::from_str(spec, ParseStrictness::Strict)
                .unwrap_or_else(|e| panic!("{name}: {spec:?} is not a conda MatchSpec: {e}"));
        }
        // Every one is pure, so noarch; a Windows-only requirement (click's colorama) keeps its
        // selector, and `__win`/`__unix` mark which side each built package is for.
        assert_eq!(recipe["noarch"], true, "{name}: {text}");
        assert!(text.contains("  noarch: python\n"), "{name}");
        assert_eq!(
            text.contains("    - __unix  # [unix]\n    - __win  # [win]\n"),
            per_os,
            "{name}: {text}"
        );
    }
}
