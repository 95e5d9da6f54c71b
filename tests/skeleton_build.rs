//! `krait skeleton pypi` recipes built by `krait build` and installed by `krait create`, offline:
//! the sdists of scripts/test-sdists.txt become `noarch: python` packages that import and pass
//! `pip check` in one environment with the pinned python fixture.
//!
//! Their build backends (and pip) come from a bootstrap channel that krait makes itself from
//! the wheels of scripts/test-wheels.txt (`krait skeleton pypi --wheel` + `krait build`), both
//! downloaded by `scripts/test` into KRAIT_TEST_SDISTS and KRAIT_TEST_WHEELS.

mod common;

use common::{krait, run_ok};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The files ending in `suffix` in the folder named by the environment variable `var`.
fn downloaded(var: &str, suffix: &str) -> Vec<PathBuf> {
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
fn listed(text: &str) -> usize {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .count()
}

fn python_minor() -> String {
    let (version, _) = common::python::host_python();
    version.split('.').take(2).collect::<Vec<_>>().join(".")
}

/// Writes recipes with `krait skeleton pypi --json <option> FILE...`; returns what it reports.
fn skeleton(home: &Path, out: &Path, option: &str, files: &[PathBuf]) -> Vec<Value> {
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
fn build_all(home: &Path, recipes: &Path, channels: &[&Path], out: &Path) -> Vec<PathBuf> {
    let mut cmd = krait(home);
    cmd.arg("build");
    let mut folders: Vec<PathBuf> = std::fs::read_dir(recipes)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    folders.sort();
    cmd.args(&folders)
        .args(["--json", "--no-test", "--override-channels", "--python"])
        .arg(python_minor())
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

fn index_json(archive: &Path) -> Value {
    let dir = tempfile::tempdir().unwrap();
    rattler_package_streaming::fs::extract(archive, dir.path()).unwrap();
    serde_json::from_str(&std::fs::read_to_string(dir.path().join("info/index.json")).unwrap())
        .unwrap()
}

/// The bootstrap channel: each wheel of scripts/test-wheels.txt as a noarch package. Built
/// once per list of wheels and python (they take minutes on a busy machine).
fn bootstrap_channel(python: &Path) -> PathBuf {
    let list = include_str!("../scripts/test-wheels.txt");
    let key = hex::encode(
        rattler_digest::compute_bytes_digest::<rattler_digest::Sha256>(format!(
            "{list}{}",
            python.display()
        )),
    );
    common::built_once(&format!("skeleton-bootstrap-{}", &key[..12]), |channel| {
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

/// The `test/imports` of a recipe skeleton wrote.
fn recipe_imports(recipe: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(recipe).unwrap();
    let (_, after) = text.split_once("\n  imports:\n").expect("test imports");
    after
        .lines()
        .map_while(|l| l.strip_prefix("    - "))
        .map(str::to_string)
        .collect()
}

#[test]
fn popular_sdists_build_into_noarch_packages_that_install_and_import() {
    let python = common::python::python_channel();
    let bootstrap = bootstrap_channel(&python);
    let sdists = downloaded("KRAIT_TEST_SDISTS", ".tar.gz");
    assert_eq!(
        sdists.len(),
        listed(include_str!("../scripts/test-sdists.txt"))
    );
    let home = tempfile::tempdir().unwrap();
    let recipes = home.path().join("recipes");
    let written = skeleton(home.path(), &recipes, "--sdist", &sdists);
    assert_eq!(written.len(), sdists.len());

    let out = home.path().join("out");
    let archives = build_all(home.path(), &recipes, &[&python, &bootstrap], &out);
    assert_eq!(archives.len(), sdists.len(), "{archives:?}");
    let mut names = Vec::new();
    for archive in &archives {
        assert!(archive.starts_with(out.join("noarch")), "{archive:?}");
        let index = index_json(archive);
        assert_eq!(index["noarch"], "python", "{archive:?}: {index}");
        assert_eq!(index["subdir"], "noarch");
        names.push(index["name"].as_str().unwrap().to_string());
    }
    for w in &written {
        let name = w["path"].as_str().unwrap().rsplit('/').nth(1).unwrap();
        assert!(names.iter().any(|n| n == name), "{name} was built");
    }

    // One environment with the pinned python, pip and every package. The build's output
    // folder comes first: packaging, pluggy and tomli are in the bootstrap channel too.
    let (version, _) = common::python::host_python();
    let prefix = home.path().join("env");
    let mut create = krait(home.path());
    create
        .args(["create", "-y", "--override-channels", "-p"])
        .arg(&prefix);
    for channel in [&out, &python, &bootstrap] {
        create.arg("-c").arg(channel);
    }
    create
        .arg(format!("python={version}"))
        .arg("pip")
        .args(&names);
    run_ok(&mut create);
    for name in &names {
        let record = std::fs::read_dir(prefix.join("conda-meta"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| {
                let file = p.file_name().unwrap().to_string_lossy();
                file.strip_prefix(name.as_str())
                    .and_then(|rest| rest.strip_prefix('-'))
                    .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
            })
            .unwrap_or_else(|| panic!("{name} is installed"));
        let record: Value =
            serde_json::from_str(&std::fs::read_to_string(&record).unwrap()).unwrap();
        let url = record["url"].as_str().unwrap_or_default();
        assert!(
            url.contains(&*out.to_string_lossy()),
            "{name} comes from the built packages, not {url}"
        );
    }

    // Every module imports from the environment's site-packages, with its python.
    let modules: Vec<String> = written
        .iter()
        .flat_map(|w| recipe_imports(Path::new(w["path"].as_str().unwrap())))
        .collect();
    assert!(modules.len() >= sdists.len(), "{modules:?}");
    let script = format!(
        "import importlib, sys\nfor m in {modules:?}:\n    print(m, importlib.import_module(m).__file__)\n"
    );
    let env_python = prefix.join("bin/python");
    let printed = run_ok(
        Command::new(&env_python)
            .arg("-c")
            .arg(&script)
            .env_clear()
            .env("PYTHONNOUSERSITE", "1"),
    );
    let site = prefix.join(format!("lib/python{}/site-packages", python_minor()));
    for line in printed.lines() {
        let (module, file) = line.split_once(' ').unwrap();
        assert!(
            Path::new(file).starts_with(&site),
            "{module} imported from {file}, not {}",
            site.display()
        );
    }
    assert_eq!(printed.lines().count(), modules.len());
    // The metadata pip installed is complete and consistent.
    run_ok(
        Command::new(&env_python)
            .args(["-m", "pip", "check"])
            .env_clear()
            .env("PYTHONNOUSERSITE", "1"),
    );
}
