//! A `python` conda package made from this machine's own CPython, for tests that need a real
//! interpreter in an environment (noarch python packages, entry points, a pinned version).
//!
//! The interpreter, `libpython` and the standard library (without tests, IDLE, tkinter and
//! site-packages content) are repackaged; with `patchelf` available the interpreter's RUNPATH
//! becomes `$ORIGIN/../lib`, so the environment's own libpython is the one loaded. Built once
//! under `CARGO_TARGET_TMPDIR` (see [`super::built_once`]).

use super::fixtures::{Format, Package};
use std::path::{Path, PathBuf};
use std::process::Command;

/// `(version, base_prefix)` of the python3 on PATH.
pub fn host_python() -> (String, PathBuf) {
    let out = Command::new("python3")
        .args([
            "-c",
            "import sys, platform; print(platform.python_version()); print(sys.base_prefix)",
        ])
        .output()
        .expect("python3 on PATH");
    let text = String::from_utf8(out.stdout).unwrap();
    let mut lines = text.lines();
    (
        lines.next().unwrap().to_string(),
        PathBuf::from(lines.next().unwrap()),
    )
}

/// `X.Y` of the python the fixture channel repackages.
pub fn python_minor() -> String {
    let (version, _) = host_python();
    version.split('.').take(2).collect::<Vec<_>>().join(".")
}

const SKIPPED: &[&str] = &[
    "test",
    "idlelib",
    "tkinter",
    "lib2to3",
    "__pycache__",
    "turtledemo",
    "ensurepip",
];

/// A channel folder holding the `python` package (and nothing else); built on first use.
pub fn python_channel() -> PathBuf {
    let (version, base) = host_python();
    super::built_once(&format!("python-fixture-{version}"), |channel| {
        write_python_channel(&version, &base, channel)
    })
}

fn write_python_channel(version: &str, base: &Path, channel: &Path) {
    let minor: String = version.split('.').take(2).collect::<Vec<_>>().join(".");
    let mut package = Package::new("python", version, "h0_0_cpython", "linux-64");
    package.files.clear();
    let stdlib = base.join("lib").join(format!("python{minor}"));
    for entry in walkdir::WalkDir::new(&stdlib)
        .into_iter()
        .filter_entry(|e| {
            let name = e.file_name().to_string_lossy();
            let rel = e.path().strip_prefix(&stdlib).unwrap();
            let in_site = rel.starts_with("site-packages") && rel != Path::new("site-packages");
            !(SKIPPED.contains(&name.as_ref()) || name.starts_with("config-") || in_site)
        })
    {
        let entry = entry.unwrap();
        if entry.file_type().is_file() {
            let rel = Path::new("lib")
                .join(format!("python{minor}"))
                .join(entry.path().strip_prefix(&stdlib).unwrap());
            package.files.push((
                rel.display().to_string(),
                std::fs::read(entry.path()).unwrap(),
            ));
        }
    }
    package.files.push((
        format!("lib/python{minor}/site-packages/README.txt"),
        b"site-packages\n".to_vec(),
    ));
    let libpython = format!("libpython{minor}.so.1.0");
    package.files.push((
        format!("lib/{libpython}"),
        std::fs::read(base.join("lib").join(&libpython)).unwrap(),
    ));
    let staging = tempfile::tempdir().unwrap();
    let interpreter = staging.path().join("python");
    std::fs::copy(
        base.join("bin").join(format!("python{minor}")),
        &interpreter,
    )
    .unwrap();
    // Without patchelf the interpreter keeps its absolute RUNPATH: it still runs on this machine.
    let _ = Command::new("patchelf")
        .args(["--set-rpath", "$ORIGIN/../lib"])
        .arg(&interpreter)
        .status();
    package = package
        .executable(
            &format!("bin/python{minor}"),
            std::fs::read(&interpreter).unwrap(),
        )
        .symlink("bin/python", &format!("python{minor}"))
        .symlink("bin/python3", &format!("python{minor}"));
    package.write(channel, Format::Conda);
    let indexed = Command::new(env!("CARGO_BIN_EXE_krait"))
        .arg("index")
        .arg("-q")
        .arg(channel)
        .status()
        .unwrap();
    assert!(indexed.success());
}

/// The wheel of `name` that setup downloaded into `$KRAIT_TEST_WHEELS`.
pub fn test_wheel(name: &str) -> PathBuf {
    let dir = std::env::var_os("KRAIT_TEST_WHEELS")
        .map(PathBuf::from)
        .expect("KRAIT_TEST_WHEELS is not set: run the tests through scripts/test");
    std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            let file = p.file_name().unwrap().to_string_lossy();
            file.starts_with(&format!("{name}-")) && file.ends_with(".whl")
        })
        .unwrap_or_else(|| panic!("no {name} wheel in {}", dir.display()))
}

/// A channel folder holding a `pip` conda package (for the python of [`python_channel`]) made
/// from pip's wheel, as conda-forge's is: the wheel's files in site-packages.
pub fn pip_channel() -> PathBuf {
    let wheel = test_wheel("pip");
    let minor = python_minor();
    let version = wheel
        .file_name()
        .unwrap()
        .to_string_lossy()
        .split('-')
        .nth(1)
        .unwrap()
        .to_string();
    super::built_once(&format!("pip-fixture-{version}-py{minor}"), |channel| {
        let mut package = Package::new("pip", &version, "py_0", "linux-64");
        package.files.clear();
        package.depends = vec![format!("python {minor}.*")];
        let mut archive = zip::ZipArchive::new(std::fs::File::open(&wheel).unwrap()).unwrap();
        for index in 0..archive.len() {
            let mut entry = archive.by_index(index).unwrap();
            if entry.is_dir() {
                continue;
            }
            let mut bytes = Vec::new();
            std::io::Read::read_to_end(&mut entry, &mut bytes).unwrap();
            package.files.push((
                format!("lib/python{minor}/site-packages/{}", entry.name().unwrap()),
                bytes,
            ));
        }
        package.write(channel, Format::Conda);
        let indexed = Command::new(env!("CARGO_BIN_EXE_krait"))
            .args(["index", "-q"])
            .arg(channel)
            .status()
            .unwrap();
        assert!(indexed.success());
    })
}
