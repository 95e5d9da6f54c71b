//! What `krait build` takes from rendering as conda-build does: an output's `type` picks its
//! archive format (`bldpkg_path`: `conda` -> .tar.bz2, `conda_v2` -> .conda) and
//! `krait render --output` prints the paths the build writes; `-e` variant files replace
//! ~/conda_build_config.yaml (`find_config_files`); the recipe's `run_test.*` belong to the
//! top-level package, other outputs run their `test/script` (`_create_test_files`); an output's
//! own script runs with its `script_interpreter` or the one its extension names (`bundle_conda`).

mod common;

use common::{copy_dir, krait, run_err, run_ok};
use std::path::Path;

#[test]
fn output_type_names_the_archive_format() {
    let home = tempfile::tempdir().unwrap();
    let out = home.path().join("out");
    let recipe = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/build_recipes/typed-outputs");
    let predicted = run_ok(
        krait(home.path())
            .arg("render")
            .arg(&recipe)
            .arg("--output")
            .arg("--output-folder")
            .arg(&out),
    );
    run_ok(
        krait(home.path())
            .arg("build")
            .arg(&recipe)
            .args(["--override-channels", "--no-test", "--output-folder"])
            .arg(&out),
    );
    let subdir = rattler_conda_types::Subdir::current()
        .unwrap()
        .as_str()
        .to_string();
    let old = out.join(&subdir).join("typed-old-1.0-0.tar.bz2");
    let new = out.join(&subdir).join("typed-new-1.0-0.conda");
    assert_eq!(predicted, format!("{}\n{}\n", new.display(), old.display()));
    for (archive, file) in [(&old, "share/typed/old.txt"), (&new, "share/typed/new.txt")] {
        let dir = tempfile::tempdir().unwrap();
        rattler_package_streaming::fs::extract(archive, dir.path())
            .unwrap_or_else(|e| panic!("{}: {e}", archive.display()));
        assert!(
            dir.path().join(file).is_file(),
            "{file} in {}",
            archive.display()
        );
    }
}

#[test]
fn exclusive_config_files_replace_the_home_config() {
    let home = tempfile::tempdir().unwrap();
    let out = home.path().join("out");
    let recipe = home.path().join("flavoured");
    std::fs::create_dir(&recipe).unwrap();
    std::fs::write(
        recipe.join("meta.yaml"),
        "package:\n  name: flavoured\n  version: 1.0\nbuild:\n  noarch: generic\n  string: {{ flavour }}_0\n  script: mkdir -p \"$PREFIX/share\" && echo {{ flavour }} > \"$PREFIX/share/flavour.txt\"\n",
    )
    .unwrap();
    std::fs::write(
        home.path().join("conda_build_config.yaml"),
        "flavour:\n  - vanilla\n",
    )
    .unwrap();
    let exclusive = home.path().join("exclusive.yaml");
    std::fs::write(&exclusive, "flavour:\n  - mint\n").unwrap();
    let build = |extra: &[&std::ffi::OsStr]| {
        run_ok(
            krait(home.path())
                .arg("build")
                .arg(&recipe)
                .args(["--override-channels", "--no-test", "--output-folder"])
                .arg(&out)
                .args(extra),
        )
    };
    build(&[]);
    assert!(out.join("noarch/flavoured-1.0-vanilla_0.conda").is_file());
    build(&["-e".as_ref(), exclusive.as_os_str()]);
    assert!(out.join("noarch/flavoured-1.0-mint_0.conda").is_file());
}

#[test]
fn run_test_scripts_go_to_the_top_level_package_and_test_script_to_its_output() {
    let home = tempfile::tempdir().unwrap();
    let out = home.path().join("out");
    let recipe = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/build_recipes/output-tests");
    // Tests run: multi-sub would fail with the recipe's run_test.sh (it has no top.txt).
    run_ok(
        krait(home.path())
            .arg("build")
            .arg(&recipe)
            .args(["--override-channels", "--output-folder"])
            .arg(&out),
    );
    let subdir = rattler_conda_types::Subdir::current()
        .unwrap()
        .as_str()
        .to_string();
    for (name, script) in [("multi", "run_test.sh"), ("multi-sub", "test-sub.sh")] {
        let archive = out.join(&subdir).join(format!("{name}-1.0-0.conda"));
        let dir = tempfile::tempdir().unwrap();
        rattler_package_streaming::fs::extract(&archive, dir.path())
            .unwrap_or_else(|e| panic!("{}: {e}", archive.display()));
        assert_eq!(
            std::fs::read_to_string(dir.path().join("info/test/run_test.sh")).unwrap(),
            std::fs::read_to_string(recipe.join(script)).unwrap(),
            "{name}'s info/test/run_test.sh"
        );
    }
    // A test/script that is not there stops the build, naming it.
    let broken = home.path().join("broken");
    copy_dir(&recipe, &broken);
    std::fs::remove_file(broken.join("test-sub.sh")).unwrap();
    let err = run_err(
        krait(home.path())
            .arg("build")
            .arg(&broken)
            .args(["--override-channels", "--output-folder"])
            .arg(home.path().join("out2")),
    );
    assert!(
        err.contains("test/script \"test-sub.sh\" is not a file"),
        "{err}"
    );
}

#[test]
fn output_scripts_run_with_their_interpreter() {
    let home = tempfile::tempdir().unwrap();
    let out = home.path().join("out");
    let recipe = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/build_recipes/output-scripts");
    let python = common::python::python_channel();
    let build = |recipe: &Path, out: &Path| {
        let mut cmd = krait(home.path());
        cmd.arg("build")
            .arg(recipe)
            .args(["--override-channels", "--no-test", "-c"])
            .arg(&python)
            .args(["--python", &common::python::python_minor()])
            .arg("--output-folder")
            .arg(out);
        cmd
    };
    run_ok(&mut build(&recipe, &out));
    let subdir = rattler_conda_types::Subdir::current()
        .unwrap()
        .as_str()
        .to_string();
    for (name, file, text) in [
        ("scripted-sh", "sh.txt", "sh\n"),
        ("scripted-perl", "perl.txt", "perl\n"),
        ("scripted-py", "py.txt", "py\n"),
    ] {
        let archive = out.join(&subdir).join(format!("{name}-1.0-0.conda"));
        let dir = tempfile::tempdir().unwrap();
        rattler_package_streaming::fs::extract(&archive, dir.path())
            .unwrap_or_else(|e| panic!("{}: {e}", archive.display()));
        let files = std::fs::read_to_string(dir.path().join("info/files")).unwrap();
        // (python's own byte-compiled stdlib may come along: build and host are one prefix.)
        let ours: Vec<&str> = files.lines().filter(|l| l.starts_with("share/")).collect();
        assert_eq!(ours, [format!("share/scripted/{file}")], "{name}");
        assert_eq!(
            std::fs::read_to_string(dir.path().join("share/scripted").join(file)).unwrap(),
            text
        );
    }
    // An extension that names no interpreter, and no script_interpreter: the build stops.
    let broken = home.path().join("broken");
    copy_dir(&recipe, &broken);
    let meta = std::fs::read_to_string(broken.join("meta.yaml")).unwrap();
    std::fs::write(
        broken.join("meta.yaml"),
        meta.replace("    script_interpreter: perl -w\n", ""),
    )
    .unwrap();
    let err = run_err(&mut build(&broken, &home.path().join("out2")));
    assert!(
        err.contains("output scripted-perl: cannot tell how to run its script install.pl")
            && err.contains("script_interpreter"),
        "{err}"
    );
}
