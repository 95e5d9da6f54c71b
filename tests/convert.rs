//! `krait convert`: pure packages re-targeted to other platforms, read back by py-rattler and
//! conda-package-handling and installed by krait; packages holding ELF, Mach-O or PE binaries,
//! and bad inputs, refused with nothing written.

mod common;

use common::fixtures::{Format, Package};
use common::{krait, peer_script, run_err, run_ok};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// A linux-64 package without binaries, whose files look like binaries to a careless check:
/// a Java class (0xcafebabe, like universal Mach-O) and a text starting with `MZ` (like PE).
fn pure_package(name: &str) -> Package {
    let mut class = vec![0xca, 0xfe, 0xba, 0xbe, 0x00, 0x00, 0x00, 0x34];
    class.extend_from_slice(&[0; 64]);
    Package::new(name, "1.0", "h0_0", "linux-64")
        .executable(&format!("bin/{name}"), "#!/bin/sh\necho \"pure data $1\"\n")
        .file(&format!("share/{name}/Hello.class"), class)
        .file(
            &format!("share/{name}/mz.txt"),
            "MZ is how this note starts, yet it is plain text and no Windows program at all.\n",
        )
}

/// Data files only: fits Windows as well as unix.
fn data_only_package(name: &str) -> Package {
    Package::new(name, "2.0", "h0_0", "linux-64")
        .file(&format!("share/{name}/table.csv"), "a,b\n1,2\n")
}

/// `inspect_package.py` output for each archive, in order.
fn inspect(archives: &[PathBuf]) -> Vec<Value> {
    let out = run_ok(peer_script("inspect_package.py").args(archives));
    out.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn subdirs_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect(),
        Err(_) => Vec::new(),
    };
    names.sort();
    names
}

#[test]
fn converts_a_pure_package_to_several_platforms_keeping_format_and_files() {
    let work = tempfile::tempdir().unwrap();
    for format in [Format::Conda, Format::TarBz2] {
        let input = pure_package("pure-data").write(&work.path().join("in"), format);
        let out = work.path().join(format!("out{}", format.extension()));
        let printed = run_ok(
            krait(work.path())
                .args(["convert", "-p", "osx-arm64,linux-aarch64", "-p", "linux-64"])
                .arg(&input)
                .arg("-o")
                .arg(&out),
        );
        assert!(printed.contains("already built for linux-64"), "{printed}");
        assert_eq!(subdirs_in(&out), ["linux-aarch64", "osx-arm64"]);
        let file_name = input.file_name().unwrap();
        let outputs = [
            out.join("osx-arm64").join(file_name),
            out.join("linux-aarch64").join(file_name),
        ];
        let read = inspect(&[input.clone(), outputs[0].clone(), outputs[1].clone()]);
        assert_eq!(read[0]["subdir"], "linux-64");
        for (converted, (subdir, platform, arch)) in read[1..].iter().zip([
            ("osx-arm64", "osx", "arm64"),
            ("linux-aarch64", "linux", "aarch64"),
        ]) {
            assert_eq!(converted["name"], "pure-data");
            assert_eq!(converted["subdir"], subdir, "{converted:#}");
            assert_eq!(converted["platform"], platform, "{converted:#}");
            assert_eq!(converted["arch"], arch, "{converted:#}");
            assert_eq!(converted["executable"], read[0]["executable"]);
            let mut files = converted["files"].as_object().unwrap().clone();
            let mut original = read[0]["files"].as_object().unwrap().clone();
            assert_ne!(files.remove("info/index.json"), None);
            assert_ne!(original.remove("info/index.json"), None);
            assert_eq!(files, original, "only info/index.json changes");
        }
    }
}

#[test]
fn a_converted_package_installs_with_krait_for_its_platform() {
    let work = tempfile::tempdir().unwrap();
    let input = pure_package("pure-tool").write(&work.path().join("in"), Format::Conda);
    let channel = work.path().join("channel");
    run_ok(
        krait(work.path())
            .args(["convert", "-q", "--platform", "linux-aarch64,osx-arm64"])
            .arg(&input)
            .arg("--output-dir")
            .arg(&channel),
    );
    run_ok(krait(work.path()).args(["index", "-q"]).arg(&channel));
    let prefix = work.path().join("aarch64-env");
    run_ok(
        krait(work.path())
            .args(["create", "-q", "-y", "--platform", "linux-aarch64", "-p"])
            .arg(&prefix)
            .arg("-c")
            .arg(&channel)
            .args(["--override-channels", "pure-tool"]),
    );
    let record: Value = serde_json::from_str(
        &std::fs::read_to_string(prefix.join("conda-meta/pure-tool-1.0-h0_0.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(record["subdir"], "linux-aarch64", "{record:#}");
    let tool = run_ok(std::process::Command::new(prefix.join("bin/pure-tool")).arg("ok"));
    assert_eq!(tool, "pure data ok\n");

    let plan = run_ok(
        krait(work.path())
            .args([
                "create",
                "--dry-run",
                "--json",
                "--platform",
                "osx-arm64",
                "-p",
            ])
            .arg(work.path().join("osx-env"))
            .arg("-c")
            .arg(&channel)
            .args(["--override-channels", "pure-tool"]),
    );
    assert!(
        plan.contains("osx-arm64/pure-tool-1.0-h0_0.conda"),
        "{plan}"
    );
}

#[test]
fn platform_all_converts_to_conda_converts_platforms_but_not_unix_layouts_to_windows() {
    let work = tempfile::tempdir().unwrap();
    let data = data_only_package("tables").write(&work.path().join("in"), Format::TarBz2);
    let out = work.path().join("out");
    run_ok(
        krait(work.path())
            .args(["convert", "-q", "--platform", "all"])
            .arg(&data)
            .arg("-o")
            .arg(&out),
    );
    let expected = [
        "linux-32",
        "linux-aarch64",
        "linux-armv6l",
        "linux-armv7l",
        "linux-ppc64",
        "linux-ppc64le",
        "linux-s390x",
        "osx-64",
        "osx-arm64",
        "win-32",
        "win-64",
        "win-arm64",
    ];
    assert_eq!(subdirs_in(&out), expected);
    let win = inspect(&[out.join("win-64/tables-2.0-h0_0.tar.bz2")]);
    assert_eq!(win[0]["platform"], "win");
    assert_eq!(win[0]["arch"], "x86_64");

    let scripts = pure_package("with-bin").write(&work.path().join("in"), Format::Conda);
    let refused = work.path().join("refused");
    let err = run_err(
        krait(work.path())
            .args(["convert", "--platform", "all"])
            .arg(&scripts)
            .arg("-o")
            .arg(&refused),
    );
    assert!(
        err.contains("bin/with-bin")
            && err.contains("win-32")
            && err.contains("laid out differently"),
        "{err}"
    );
    assert!(!refused.exists(), "nothing is written on refusal");
}

#[test]
fn packages_holding_elf_mach_o_or_pe_binaries_are_refused_and_nothing_is_written() {
    let work = tempfile::tempdir().unwrap();
    // The head of this test's own executable: a real ELF file.
    let elf: Vec<u8> = std::fs::read(std::env::current_exe().unwrap()).unwrap()[..4096].to_vec();
    let mut mach_o = vec![0xcf, 0xfa, 0xed, 0xfe, 0x0c, 0x00, 0x00, 0x01];
    mach_o.resize(256, 0);
    let mut universal = vec![0xca, 0xfe, 0xba, 0xbe, 0x00, 0x00, 0x00, 0x02];
    universal.resize(256, 0);
    let mut pe = b"MZ".to_vec();
    pe.resize(0x80, 0);
    pe[0x3c] = 0x80;
    pe.extend_from_slice(b"PE\0\0\x64\x86");
    pe.resize(512, 0);
    let good = pure_package("good").write(&work.path().join("in"), Format::Conda);
    for (case, (kind, file, bytes)) in [
        ("ELF", "lib/libfast.so.1", elf),
        ("Mach-O", "lib/libfast.dylib", mach_o),
        ("universal Mach-O", "share/tool/fat", universal),
        ("PE", "share/tool/helper.dat", pe),
    ]
    .into_iter()
    .enumerate()
    {
        let bad = Package::new("native", "1.0", "h0_0", "linux-64")
            .file(file, bytes)
            .write(&work.path().join(format!("in-{case}")), Format::TarBz2);
        let out = work.path().join("out");
        let err = run_err(
            krait(work.path())
                .args(["convert", "-p", "osx-64"])
                .arg(&good)
                .arg(&bad)
                .arg("-o")
                .arg(&out),
        );
        assert!(
            err.contains(&format!("{file} is a platform-specific binary ({kind})")),
            "{kind}: {err}"
        );
        assert!(err.contains("native-1.0-h0_0.tar.bz2"), "{err}");
        assert!(!out.exists(), "nothing written, not even the good package");
    }
}

#[test]
fn bad_inputs_get_clear_errors_and_nothing_is_written() {
    let work = tempfile::tempdir().unwrap();
    let good = pure_package("fine").write(&work.path().join("in"), Format::Conda);
    let out = work.path().join("out");
    let convert = |platform: &str, archive: &Path| {
        run_err(
            krait(work.path())
                .args(["convert", "-p", platform])
                .arg(archive)
                .arg("-o")
                .arg(&out),
        )
    };

    let err = convert("linux-86", &good);
    assert!(
        err.contains("unknown platform 'linux-86'") && err.contains("osx-arm64"),
        "{err}"
    );
    let err = convert("noarch", &good);
    assert!(err.contains("unknown platform 'noarch'"), "{err}");

    let missing = work.path().join("in/linux-64/gone-1.0-0.conda");
    let err = convert("osx-64", &missing);
    assert!(
        err.contains(&format!("{}: no such file", missing.display())),
        "{err}"
    );

    let noarch = Package::new("anywhere", "1.0", "0", "noarch")
        .write(&work.path().join("in"), Format::Conda);
    let err = convert("osx-64", &noarch);
    assert!(
        err.contains("anywhere-1.0-0.conda is a noarch package"),
        "{err}"
    );

    let text = work.path().join("notes.conda");
    std::fs::write(&text, "not a zip archive\n").unwrap();
    let err = convert("osx-64", &text);
    assert!(err.contains("notes.conda is not a conda package"), "{err}");
    let wrong_name = work.path().join("fine.zip");
    std::fs::copy(&good, &wrong_name).unwrap();
    let err = convert("osx-64", &wrong_name);
    assert!(err.contains("neither .conda nor .tar.bz2"), "{err}");

    assert!(!out.exists());
}
