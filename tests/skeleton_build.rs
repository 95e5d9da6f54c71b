//! `krait skeleton pypi` recipes built by `krait build` and installed by `krait create`, offline:
//! the sdists of scripts/test-sdists.txt become `noarch: python` packages that import and pass
//! `pip check` in one environment with the pinned python fixture.
//!
//! Their build backends (and pip) come from a bootstrap channel that krait makes itself from
//! the wheels of scripts/test-wheels.txt (`krait skeleton pypi --wheel` + `krait build`), both
//! downloaded by `scripts/test` into KRAIT_TEST_SDISTS and KRAIT_TEST_WHEELS.

mod common;

use common::bootstrap::{bootstrap_channel, build_all, downloaded, listed, skeleton};
use common::python::python_minor;
use common::{krait, run_ok};
use serde_json::Value;
use std::path::Path;
use std::process::Command;

fn index_json(archive: &Path) -> Value {
    let dir = tempfile::tempdir().unwrap();
    rattler_package_streaming::fs::extract(archive, dir.path()).unwrap();
    serde_json::from_str(&std::fs::read_to_string(dir.path().join("info/index.json")).unwrap())
        .unwrap()
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
