//! What `krait build` takes from rendering as conda-build does: an output's `type` picks its
//! archive format (`bldpkg_path`: `conda` -> .tar.bz2, `conda_v2` -> .conda) and
//! `krait render --output` prints the paths the build writes; `-e` variant files replace
//! ~/conda_build_config.yaml (`find_config_files`).

mod common;

use common::{krait, run_ok};
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
