//! An output's `type` picks its archive format in `krait build` as in conda-build's
//! `bldpkg_path` (`conda` -> .tar.bz2, `conda_v2` -> .conda), and `krait render --output`
//! prints the same paths the build writes.

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
