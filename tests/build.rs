//! `krait build` end to end on the recipes in `tests/build_recipes/`: info/ metadata as
//! conda-build writes it, relocation of a gcc-built library and program into two prefixes,
//! run_exports between recipes built in dependency order, noarch python on a real CPython,
//! reproducible archives, peers reading the archives, and bad input.

mod common;

use common::python::python_minor;
use common::{
    condarc_with_http_proxy, krait, peer_python, peer_script, run_err, run_ok, Fault, HttpServer,
};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn recipe(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/build_recipes")
        .join(name)
}

struct Builder {
    home: tempfile::TempDir,
    out: PathBuf,
}

impl Builder {
    fn new() -> Builder {
        let home = tempfile::tempdir().unwrap();
        let out = home.path().join("out");
        Builder { home, out }
    }

    fn build(&self, recipes: &[&str], extra: &[&str]) -> std::process::Command {
        let mut cmd = krait(self.home.path());
        cmd.arg("build")
            .args(recipes.iter().map(|r| recipe(r)))
            .arg("--override-channels")
            .arg("--output-folder")
            .arg(&self.out)
            .args(extra);
        cmd
    }

    fn create(&self, prefix: &Path, specs: &[&str], extra_channels: &[&Path]) {
        let mut cmd = krait(self.home.path());
        cmd.args(["create", "-y", "--override-channels", "-p"])
            .arg(prefix)
            .arg("-c")
            .arg(&self.out);
        for ch in extra_channels {
            cmd.arg("-c").arg(ch);
        }
        run_ok(cmd.args(specs));
    }
}

/// Reads one member of an archive, e.g. `info/index.json`.
fn member(archive: &Path, name: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    rattler_package_streaming::fs::extract(archive, dir.path()).unwrap();
    std::fs::read_to_string(dir.path().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The `.conda` archives in a subdir folder.
fn conda_archives(subdir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(subdir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".conda"))
        .collect()
}

fn json_member(archive: &Path, name: &str) -> Value {
    serde_json::from_str(&member(archive, name)).unwrap()
}

#[test]
fn noarch_generic_package_has_conda_builds_info_files_and_installs_anywhere() {
    let b = Builder::new();
    let out = run_ok(&mut b.build(&["hello-generic"], &[]));
    let archive = b.out.join("noarch/hello-generic-1.2.0-3.conda");
    assert_eq!(out.trim(), archive.display().to_string());
    let index = json_member(&archive, "info/index.json");
    assert_eq!(index["name"], "hello-generic");
    assert_eq!(index["version"], "1.2.0");
    assert_eq!(index["build"], "3");
    assert_eq!(index["build_number"], 3);
    assert_eq!(index["noarch"], "generic");
    assert_eq!(index["subdir"], "noarch");
    assert_eq!(index["license"], "MIT");
    assert_eq!(index["depends"], serde_json::json!([]));
    // conda-build's info_index: noarch packages have null platform and arch.
    assert_eq!(
        (index.get("platform"), index.get("arch")),
        (Some(&Value::Null), Some(&Value::Null))
    );
    // The file holding the build prefix is recorded with that prefix as its placeholder.
    let paths = json_member(&archive, "info/paths.json");
    let greeting = paths["paths"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["_path"] == "share/hello/greeting.txt")
        .unwrap();
    let placeholder = greeting["prefix_placeholder"].as_str().unwrap();
    assert_eq!(greeting["file_mode"], "text");
    assert!(
        placeholder.len() == 255 && placeholder.contains("_h_env_placehold"),
        "{placeholder}"
    );
    assert_eq!(
        member(&archive, "info/has_prefix").trim(),
        format!("{placeholder} text share/hello/greeting.txt")
    );
    assert_eq!(
        member(&archive, "info/files"),
        "share/hello/env.txt\nshare/hello/greeting.txt\n"
    );
    let env_txt = member(&archive, "share/hello/env.txt");
    assert!(
        env_txt.starts_with("build 3 cpu ") && env_txt.trim_end().ends_with("conda-build 1"),
        "{env_txt}"
    );
    let about = json_member(&archive, "info/about.json");
    assert_eq!(about["summary"], "A greeting written at build time");
    assert_eq!(about["extra"]["recipe-maintainers"][0], "krait-team");
    assert!(member(&archive, "info/recipe/meta.yaml.template").contains("{% set version"));
    assert!(member(&archive, "info/test/run_test.sh")
        .contains("grep \"hello from hello-generic 1.2.0\""));
    // The output folder is an indexed channel: install into two prefixes.
    for name in ["a", "somewhere/much/deeper/b"] {
        let prefix = b.home.path().join(name);
        b.create(&prefix, &["hello-generic"], &[]);
        assert_greets(&prefix);
    }
    // krait test re-runs the tests of the built archive.
    run_ok(
        krait(b.home.path())
            .arg("test")
            .arg(&archive)
            .arg("--override-channels"),
    );
}

#[test]
fn gcc_built_library_and_program_relocate_into_two_prefixes() {
    let b = Builder::new();
    // Given app first: the build order puts the library it needs first. Relocation needs no
    // patchelf: PATH is this one's without it.
    let bin = b.home.path().join("bin-without-patchelf");
    run_ok(
        b.build(
            &["greet-app", "greet-lib"],
            &["--package-format", "tar.bz2"],
        )
        .env("PATH", path_without(&bin, "patchelf")),
    );
    let lib = b.out.join("linux-64/libgreet-1.4.2-0.tar.bz2");
    let app_archives: Vec<PathBuf> = std::fs::read_dir(b.out.join("linux-64"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("greet-app-0.9-")
        })
        .collect();
    assert_eq!(app_archives.len(), 1, "{app_archives:?}");
    let app = &app_archives[0];
    // run_exports of the host dependency became a run requirement.
    assert_eq!(
        json_member(app, "info/index.json")["depends"],
        serde_json::json!(["__glibc >=2.34", "libgreet >=1.4.2,<2.0a0"])
    );
    assert_eq!(
        json_member(&lib, "info/run_exports.json")["weak"],
        serde_json::json!(["libgreet >=1.4.2,<2.0a0"])
    );
    let lib_index = json_member(&lib, "info/index.json");
    assert_eq!(
        (lib_index["platform"].as_str(), lib_index["arch"].as_str()),
        (Some("linux"), Some("x86_64"))
    );
    let lib_paths = json_member(&lib, "info/paths.json");
    let so = lib_paths["paths"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["_path"] == "lib/libgreet.so")
        .unwrap();
    assert_eq!(so["file_mode"], "binary");
    for name in [
        "short",
        "a/path/that/is/a/good/deal/longer/than/the/first/one",
    ] {
        let prefix = b.home.path().join(name);
        b.create(&prefix, &["greet-app"], &[]);
        let out = run_ok(&mut Command::new(prefix.join("bin/greet")));
        assert_eq!(
            out.trim(),
            format!(
                "hello from libgreet; data in {}/share/greet",
                prefix.display()
            )
        );
        let where_txt = std::fs::read_to_string(prefix.join("share/greet/where.txt")).unwrap();
        assert_eq!(
            where_txt,
            format!("greetings live in {}/share/greet\n", prefix.display())
        );
        let rpath = run_ok(
            Command::new("patchelf")
                .arg("--print-rpath")
                .arg(prefix.join("bin/greet")),
        );
        assert_eq!(rpath.trim(), "$ORIGIN/../lib");
    }
    // conda inspect linkages / objects, on the installed package and on its archive.
    let prefix = b.home.path().join("short");
    let inspect = |args: &[&str]| {
        run_ok(
            krait(b.home.path())
                .arg("inspect")
                .args(args)
                .arg("-p")
                .arg(&prefix),
        )
    };
    let dist = app_archives[0]
        .file_name()
        .unwrap()
        .to_string_lossy()
        .trim_end_matches(".tar.bz2")
        .to_string();
    let underline = "-".repeat(dist.len());
    let linkages = inspect(&["linkages", "greet-app", "--show-files"]);
    let (head, system) = linkages.split_once("system:\n").unwrap();
    assert_eq!(
        head,
        format!("{dist}\n{underline}\n\nlibgreet-1.4.2-0:\n    libgreet.so (lib/libgreet.so) from bin/greet\n\n")
    );
    // glibc comes from the machine's own library folder.
    let libc = system
        .trim()
        .strip_prefix("libc.so.6 (")
        .and_then(|rest| rest.strip_suffix(") from bin/greet"))
        .unwrap_or_else(|| panic!("{system}"));
    assert!(
        Path::new(libc).is_absolute() && Path::new(libc).exists(),
        "{libc}"
    );
    let from_archive = inspect(&["linkages", app.to_str().unwrap()]);
    assert!(
        from_archive.contains("libgreet-1.4.2-0:\n    libgreet.so (lib/libgreet.so)\n"),
        "{from_archive}"
    );
    let objects: Value =
        serde_json::from_str(&inspect(&["objects", "greet-app", "--json"])).unwrap();
    assert_eq!(
        objects[&dist],
        serde_json::json!([{"path": "bin/greet", "kind": "executable", "soname": null,
            "rpath": ["$ORIGIN/../lib"], "needed": ["libgreet.so", "libc.so.6"]}])
    );
    let err = run_err(
        krait(b.home.path())
            .args(["inspect", "linkages", "not-installed", "-p"])
            .arg(&prefix),
    );
    assert!(err.contains("not-installed is not installed"), "{err}");

    // conda debug: the work folder and environments are made, the script is not run; the
    // printed command enters them, and the script then builds as `krait build` would.
    let debug = |recipe_dir: &Path| {
        let mut cmd = krait(b.home.path());
        cmd.arg("debug")
            .arg(recipe_dir)
            .args(["--override-channels", "-c"])
            .arg(&b.out)
            .arg("--output-folder")
            .arg(b.home.path().join("debug-out"));
        cmd
    };
    let enter = run_ok(debug(&recipe("greet-app")).arg("--quiet"));
    let shell = format!(
        "{} && bash -e conda_build.sh && \"$PREFIX/bin/greet\"",
        enter.trim()
    );
    let out = run_ok(Command::new("bash").args(["-c", &shell]));
    assert!(out.starts_with("hello from libgreet; data in "), "{out}");
    let flavours =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/parity_recipes/flavour-matrix");
    let err = run_err(&mut debug(&flavours));
    assert!(
        err.contains("has several variants") && err.contains("--variant"),
        "{err}"
    );
}

#[test]
fn noarch_python_package_runs_on_the_pinned_interpreter() {
    let b = Builder::new();
    let python = common::python::python_channel();
    run_ok(
        b.build(&["pyhello"], &["--python", &python_minor()])
            .arg("-c")
            .arg(&python),
    );
    let archive = b.out.join("noarch/pyhello-0.3.0-py_0.conda");
    assert!(
        archive.exists(),
        "{:?}",
        std::fs::read_dir(b.out.join("noarch"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect::<Vec<_>>()
    );
    let files = member(&archive, "info/files");
    assert_eq!(files, "site-packages/pyhello/__init__.py\n");
    // copy_license_files: looked up in the source folder, then in the recipe folder.
    assert_eq!(
        member(&archive, "info/licenses/LICENSE.txt"),
        std::fs::read_to_string(recipe("pyhello").join("src/LICENSE.txt")).unwrap()
    );
    assert_eq!(
        member(&archive, "info/licenses/NOTICE"),
        std::fs::read_to_string(recipe("pyhello").join("NOTICE")).unwrap()
    );
    let link = json_member(&archive, "info/link.json");
    assert_eq!(
        link["noarch"]["entry_points"],
        serde_json::json!(["pyhello = pyhello:main"])
    );
    let prefix = b.home.path().join("py");
    b.create(&prefix, &["pyhello"], &[&python]);
    let out = run_ok(&mut Command::new(prefix.join("bin/pyhello")));
    assert_eq!(out.trim(), format!("pyhello on {}", prefix.display()));
}

#[test]
fn same_recipe_twice_gives_byte_identical_archives() {
    let b = Builder::new();
    let first = b.home.path().join("first.conda");
    for round in 0..2 {
        run_ok(
            b.build(&["hello-generic"], &["--no-test"])
                .env("SOURCE_DATE_EPOCH", "1700000000"),
        );
        let archive = b.out.join("noarch/hello-generic-1.2.0-3.conda");
        if round == 0 {
            std::fs::rename(&archive, &first).unwrap();
        } else {
            let digest = |p: &Path| {
                hex::encode(
                    rattler_digest::compute_bytes_digest::<rattler_digest::Sha256>(
                        std::fs::read(p).unwrap(),
                    ),
                )
            };
            assert_eq!(digest(&archive), digest(&first));
        }
    }
}

#[test]
fn peers_read_what_krait_builds() {
    let b = Builder::new();
    run_ok(&mut b.build(&["hello-generic"], &["--package-format", "tar.bz2"]));
    run_ok(&mut b.build(&["hello-generic"], &[]));
    let cph = peer_python().parent().unwrap().join("cph");
    for ext in ["conda", "tar.bz2"] {
        let archive = b.out.join(format!("noarch/hello-generic-1.2.0-3.{ext}"));
        let listing = run_ok(Command::new(&cph).arg("list").arg(&archive));
        assert!(
            listing.contains("share/hello/greeting.txt") && listing.contains("info/index.json"),
            "{listing}"
        );
        let dest = b.home.path().join(format!("cph-{ext}"));
        run_ok(
            Command::new(&cph)
                .arg("extract")
                .arg(&archive)
                .arg("--dest")
                .arg(&dest),
        );
        assert!(dest.join("info/paths.json").is_file());
    }
    let prefix = b.home.path().join("rattler-env");
    let url = url::Url::from_directory_path(&b.out).unwrap();
    run_ok(
        peer_script("install.py")
            .arg(b.home.path().join("rc"))
            .arg(&prefix)
            .arg(url.as_str())
            .arg("hello-generic"),
    );
    assert_greets(&prefix);
}

/// hello-generic's greeting names the prefix it was installed into (text prefix replacement).
fn assert_greets(prefix: &Path) {
    let text = std::fs::read_to_string(prefix.join("share/hello/greeting.txt")).unwrap();
    assert_eq!(
        text,
        format!("hello from hello-generic 1.2.0 at {}\n", prefix.display())
    );
}

#[test]
fn bad_input_fails_clearly_and_leaves_the_output_channel_clean() {
    let b = Builder::new();
    let err = run_err(&mut b.build(&["bad-hash"], &[]));
    assert!(
        err.contains("sha256 mismatch") && err.contains("payload.txt"),
        "{err}"
    );
    let err = run_err(&mut b.build(&["bad-script"], &[]));
    assert!(
        err.contains("exit code 7") && err.contains("conda_build.log"),
        "{err}"
    );
    let noarch = b.out.join("noarch");
    let archives = |dir: &Path| -> Vec<String> {
        std::fs::read_dir(dir)
            .map(|d| {
                d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                    .filter(|n| n.ends_with(".conda") || n.ends_with(".tar.bz2"))
                    .collect()
            })
            .unwrap_or_default()
    };
    assert!(archives(&noarch).is_empty());
    // copy_license_files: a license_file in neither the source nor the recipe folder.
    let err = run_err(&mut b.build(&["bad-license"], &[]));
    assert!(
        err.contains("MISSING-LICENSE.txt") && err.contains("license_file"),
        "{err}"
    );
    assert!(archives(&noarch).is_empty());
    let err = run_err(&mut b.build(&["broken-test"], &[]));
    assert!(
        err.contains("test failed") && err.contains("run_test.sh"),
        "{err}"
    );
    assert!(archives(&noarch).is_empty());
    assert_eq!(archives(&b.out.join("broken")), ["broken-test-1.0-0.conda"]);
    let repodata: Value =
        serde_json::from_str(&std::fs::read_to_string(noarch.join("repodata.json")).unwrap())
            .unwrap();
    assert!(repodata["packages.conda"].as_object().unwrap().is_empty());
    let err = run_err(&mut b.build(&["no-such-recipe"], &[]));
    assert!(err.contains("no-such-recipe"), "{err}");
}

#[test]
fn missing_shared_libraries_warn_unless_whitelisted_and_fail_when_asked() {
    let b = Builder::new();
    // The build's exit status and its missing-DSO reports (stderr also holds the script's trace).
    let build = |mode: &str| {
        let mut cmd = b.build(&["dso-check"], &["--no-test"]);
        cmd.env("KRAIT_TEST_DSO_MODE", mode);
        let out = common::run(&mut cmd);
        let reports: Vec<String> = String::from_utf8_lossy(&out.stderr)
            .lines()
            .filter(|l| l.contains("not found in packages"))
            .map(String::from)
            .collect();
        (out, reports)
    };
    let archives = || -> Vec<String> {
        std::fs::read_dir(b.out.join("linux-64"))
            .map(|d| {
                d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                    .filter(|n| n.ends_with(".conda"))
                    .collect()
            })
            .unwrap_or_default()
    };
    // A library left in the work folder is reported, naming the file and the library; the
    // one shipped in the package and glibc's are not.
    let (warned, reports) = build("warn");
    assert!(warned.status.success());
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert!(
        reports[0].contains("(dso-check,bin/linked): $RPATH/libnowhere.so not found"),
        "{reports:?}"
    );
    assert_eq!(archives().len(), 1);
    // A library that only the build machine's system has (here /usr/lib's libz.so.1, not
    // glibc's) is reported too, saying where the system has it.
    let (system, reports) = build("system");
    assert!(system.status.success());
    for library in ["libz.so.1", "libcrypt.so.1"] {
        let report = reports
            .iter()
            .find(|r| {
                r.contains(&format!(
                    "(dso-check,bin/system-linked): $RPATH/{library} not found"
                ))
            })
            .unwrap_or_else(|| panic!("{library} in {reports:?}"));
        assert!(
            report.contains("only the build machine's system has it (/")
                && report.contains(&format!("{library})")),
            "{report}"
        );
    }
    // missing_dso_whitelist silences it.
    let (allowed, reports) = build("allow");
    assert!(allowed.status.success());
    assert!(reports.is_empty(), "{reports:?}");
    // error_overlinking makes it fatal, and nothing new is written.
    for archive in archives() {
        std::fs::remove_file(b.out.join("linux-64").join(archive)).unwrap();
    }
    let (failed, _) = build("error");
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert!(!failed.status.success(), "{stderr}");
    assert!(
        stderr.contains("shared libraries not found") && stderr.contains("bin/linked"),
        "{stderr}"
    );
    assert!(archives().is_empty(), "{:?}", archives());
}

#[test]
fn glibc_symbol_versions_become_a_glibc_requirement_that_older_systems_cannot_solve() {
    let b = Builder::new();
    // The run requirements of the package built in `mode` (the only archive in the channel:
    // a recipe bound on __glibc puts a hash in the build string).
    let depends = |mode: &str| -> Value {
        let _ = std::fs::remove_dir_all(&b.out);
        let mut cmd = b.build(&["glibc-detect"], &[]);
        run_ok(cmd.env("KRAIT_TEST_GLIBC_MODE", mode));
        let archives = conda_archives(&b.out.join("linux-64"));
        assert_eq!(archives.len(), 1, "{archives:?}");
        json_member(&archives[0], "info/index.json")["depends"].clone()
    };
    // The recipe's own bound stays as it is; ignore_glibc_detection adds nothing.
    assert_eq!(depends("bounded"), serde_json::json!(["__glibc >=2.17"]));
    assert_eq!(depends("ignore"), serde_json::json!([]));
    // gcc on glibc >= 2.34 links __libc_start_main@GLIBC_2.34: the highest version needed.
    assert_eq!(depends("detect"), serde_json::json!(["__glibc >=2.34"]));
    let create = |glibc: &str| {
        let mut cmd = krait(b.home.path());
        cmd.args(["create", "-y", "--override-channels", "-p"])
            .arg(b.home.path().join(format!("env-{glibc}")))
            .arg("-c")
            .arg(&b.out)
            .arg("glibc-detect")
            .env("CONDA_OVERRIDE_GLIBC", glibc);
        cmd
    };
    let err = run_err(&mut create("2.17"));
    assert!(
        err.contains("glibc-detect")
            && err.contains("__glibc >=2.34")
            && err.contains("this system's __glibc is 2.17"),
        "the solver says which glibc the package needs and which one the system has: {err}"
    );
    run_ok(&mut create("2.34"));
    let out = run_ok(&mut Command::new(
        b.home.path().join("env-2.34/bin/glibc-detect"),
    ));
    assert_eq!(out.trim(), "glibc-detect runs");
}

#[test]
fn run_requirements_nothing_links_to_are_overdepending() {
    let b = Builder::new();
    run_ok(&mut b.build(&["greet-lib"], &["--no-test"]));
    // The build's exit status, stderr and its overdepending reports.
    let build = |recipe: &str, mode: &str| {
        let mut cmd = b.build(&[recipe], &["--no-test"]);
        cmd.env("KRAIT_TEST_OVERDEPENDING", mode);
        let out = common::run(&mut cmd);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let reports: Vec<String> = stderr
            .lines()
            .filter(|l| l.contains("it is overdepending"))
            .map(String::from)
            .collect();
        (out.status.success(), stderr, reports)
    };
    // A program that does not link libgreet, which run_exports made a run requirement.
    let (ok, stderr, reports) = build("greet-unlinked", "warn");
    assert!(ok, "{stderr}");
    assert_eq!(reports.len(), 1, "{stderr}");
    assert!(
        reports[0].contains(
            "(greet-unlinked): run-exports library package libgreet-1.4.2-0 in requirements/run but it is not used"
        ),
        "{reports:?}"
    );
    // A program that links it is not reported.
    let (ok, stderr, reports) = build("greet-app", "warn");
    assert!(ok && reports.is_empty(), "{stderr}");
    // ignore_run_exports keeps libgreet out of the run requirements: nothing to report.
    let (ok, stderr, reports) = build("greet-unlinked", "ignore");
    assert!(ok && reports.is_empty(), "{stderr}");
    // error_overdepending makes it fatal.
    let (ok, stderr, _) = build("greet-unlinked", "error");
    assert!(!ok, "{stderr}");
    assert!(
        stderr.contains("run requirements no file links to") && stderr.contains("libgreet"),
        "{stderr}"
    );
}

#[test]
fn entry_points_and_python_shebangs_of_a_non_noarch_package_relocate() {
    let b = Builder::new();
    let python = common::python::python_channel();
    run_ok(
        b.build(&["pytool"], &["--python", &python_minor()])
            .arg("-c")
            .arg(&python),
    );
    let archives = conda_archives(&b.out.join("linux-64"));
    assert_eq!(archives.len(), 1, "{archives:?}");
    let archive = &archives[0];
    let paths = json_member(archive, "info/paths.json");
    let entry = |path: &str| -> Value {
        paths["paths"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["_path"] == path)
            .unwrap_or_else(|| panic!("{path} not in {paths}"))
            .clone()
    };
    let placeholder = entry("bin/pytool")["prefix_placeholder"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(placeholder.contains("_h_env_placehold"), "{placeholder}");
    let shebang = format!("#!{placeholder}/bin/python\n");
    // The entry point is conda-build's wrapper, run by the host python.
    let wrapper = member(archive, "bin/pytool");
    assert!(
        wrapper.starts_with(&shebang)
            && wrapper.contains("from pytool.cli import main")
            && wrapper.contains("sys.exit(main())"),
        "{wrapper}"
    );
    // A shebang naming another python now names the host python; others are untouched.
    let legacy = member(archive, "bin/pytool-legacy");
    assert_eq!(
        legacy,
        format!("{shebang}import sys\nprint(\"legacy on\", sys.prefix)\n")
    );
    assert_eq!(
        member(archive, "bin/pytool-sh"),
        "#!/bin/sh\necho shell script\n"
    );
    for path in ["bin/pytool", "bin/pytool-legacy"] {
        assert_eq!(entry(path)["file_mode"], "text", "{path}");
        assert_eq!(entry(path)["prefix_placeholder"], placeholder.as_str());
    }
    assert!(entry("bin/pytool-sh").get("prefix_placeholder").is_none());
    // Installed into a short prefix, and into one too long for a shebang line (the installer
    // then writes a `#!/bin/sh` line that execs the prefix's python, as conda does), both
    // scripts run on the environment's python.
    let long = format!("long/{}", "deep_".repeat(26));
    for name in ["short", long.as_str()] {
        let prefix = b.home.path().join(name);
        b.create(&prefix, &["pytool"], &[&python]);
        let first_line = std::fs::read_to_string(prefix.join("bin/pytool"))
            .unwrap()
            .lines()
            .next()
            .unwrap()
            .to_string();
        let expected = format!("#!{}/bin/python", prefix.display());
        if expected.len() <= 127 {
            assert_eq!(first_line, expected);
        } else {
            assert_eq!(first_line, "#!/bin/sh");
        }
        for (script, label) in [("pytool", "pytool"), ("pytool-legacy", "legacy")] {
            let out = run_ok(&mut Command::new(prefix.join("bin").join(script)));
            assert_eq!(out.trim(), format!("{label} on {}", prefix.display()));
        }
    }
}

#[test]
fn built_packages_are_uploaded_to_a_channel_folder_and_to_krait_serve() {
    let b = Builder::new();
    let archive = b.out.join("noarch/hello-generic-1.2.0-3.conda");
    // A destination folder that does not exist is refused before anything is built.
    let missing = b.home.path().join("missing");
    let err = run_err(&mut b.build(
        &["hello-generic"],
        &["--upload-to", missing.to_str().unwrap()],
    ));
    assert!(err.contains("does not exist"), "{err}");
    assert!(!archive.exists());

    let folder = b.home.path().join("published");
    std::fs::create_dir_all(&folder).unwrap();
    let out = run_ok(&mut b.build(
        &["hello-generic"],
        &["--upload-to", folder.to_str().unwrap(), "--json"],
    ));
    let built: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        built[0]["uploaded"]["target"],
        "noarch/hello-generic-1.2.0-3.conda"
    );
    let bytes = std::fs::read(&archive).unwrap();
    assert_eq!(
        std::fs::read(folder.join("noarch/hello-generic-1.2.0-3.conda")).unwrap(),
        bytes
    );
    let repodata: Value = serde_json::from_str(
        &std::fs::read_to_string(folder.join("noarch/repodata.json")).unwrap(),
    )
    .unwrap();
    assert!(repodata["packages.conda"]["hello-generic-1.2.0-3.conda"].is_object());

    // To a server: refused without the write token, accepted with it, then installable.
    let served = b.home.path().join("served");
    std::fs::create_dir_all(&served).unwrap();
    let write = common::serve::token_file(b.home.path(), "write.token", "build-writer");
    let server = common::serve::Server::start(
        b.home.path(),
        &served,
        &["--write-token-file", write.to_str().unwrap()],
    );
    let err = run_err(&mut b.build(&["hello-generic"], &["--upload-to", &server.url]));
    assert!(err.contains("401"), "{err}");
    assert!(!served.join("noarch/hello-generic-1.2.0-3.conda").exists());
    run_ok(&mut b.build(
        &["hello-generic"],
        &[
            "--upload-to",
            &server.url,
            "--token-file",
            write.to_str().unwrap(),
        ],
    ));
    assert_eq!(
        std::fs::read(served.join("noarch/hello-generic-1.2.0-3.conda")).unwrap(),
        std::fs::read(&archive).unwrap()
    );
    let prefix = b.home.path().join("from-server");
    run_ok(
        krait(b.home.path())
            .args([
                "create",
                "-y",
                "--override-channels",
                "-c",
                &server.url,
                "-p",
            ])
            .arg(&prefix)
            .arg("hello-generic"),
    );
    assert_greets(&prefix);
}

#[test]
fn a_package_built_by_py_rattler_build_serves_as_a_host_dependency() {
    let importable = Command::new(peer_python())
        .args(["-c", "import rattler_build"])
        .status()
        .is_ok_and(|s| s.success());
    if !importable {
        eprintln!(
            "SKIPPED: py-rattler-build is not installed in {} (scripts/setup-test-env installs it)",
            peer_python().display()
        );
        return;
    }
    let b = Builder::new();
    let rattler_channel = b.home.path().join("rattler-build-out");
    run_ok(
        peer_script("rattler_build_recipe.py")
            .arg(recipe("rb-header").join("recipe.yaml"))
            .arg(&rattler_channel),
    );
    run_ok(
        b.build(&["rb-header-user"], &[])
            .arg("-c")
            .arg(&rattler_channel),
    );
    let archive = b.out.join("linux-64/rbver-1.0-0.conda");
    // rattler-build's run_exports (from repodata) became a run requirement.
    assert_eq!(
        json_member(&archive, "info/index.json")["depends"],
        serde_json::json!(["__glibc >=2.34", "rbheader >=2.1.0,<3.0a0"])
    );
    let prefix = b.home.path().join("env");
    b.create(&prefix, &["rbver"], &[&rattler_channel]);
    let out = run_ok(&mut Command::new(prefix.join("bin/rbver")));
    assert_eq!(out.trim(), "rbheader 21");
    assert!(prefix.join("include/rbheader.h").is_file());
}

#[test]
fn url_sources_are_downloaded_with_the_channel_network_settings() {
    let served = tempfile::tempdir().unwrap();
    std::fs::write(
        served.path().join("hello-source.txt"),
        "hello from a served source\n",
    )
    .unwrap();
    // Answers 503 once per path, and is reached only as the proxy of a host that does not
    // resolve: the build succeeds only if source downloads honour proxy_servers and retry.
    let proxy = HttpServer::serve_faulty(served.path(), Fault::Unavailable, 1);
    let b = Builder::new();
    condarc_with_http_proxy(b.home.path(), &proxy.url);
    let out = run_ok(
        b.build(&["url-source"], &["--json"])
            .env_remove("KRAIT_TEST_SOURCE_URL"),
    );
    let built: Value = serde_json::from_str(&out).unwrap();
    let archive = PathBuf::from(built[0]["archive"].as_str().unwrap());
    assert_eq!(
        member(&archive, "hello-source.txt"),
        "hello from a served source\n"
    );

    // Without the proxy (and a source cache of its own) the host does not resolve, and the
    // error names the URL.
    let direct = Builder::new();
    std::fs::write(
        direct.home.path().join(".condarc"),
        "remote_max_retries: 0\n",
    )
    .unwrap();
    let err = run_err(&mut direct.build(&["url-source"], &[]));
    assert!(
        err.contains("http://sources.invalid/hello-source.txt"),
        "{err}"
    );
}

/// A PATH with every program of this one's but `program`: links to them in `bin`.
fn path_without(bin: &Path, program: &str) -> PathBuf {
    std::fs::create_dir_all(bin).unwrap();
    for dir in std::env::split_paths(&std::env::var_os("PATH").unwrap()) {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let link = bin.join(entry.file_name());
            if entry.file_name() != program && !link.exists() {
                let _ = std::os::unix::fs::symlink(entry.path(), &link);
            }
        }
    }
    bin.to_path_buf()
}

/// A loopback port nothing listens on (bound, then let go).
fn unused_loopback_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The `info/files` list of an archive.
fn files_of(archive: &Path) -> Vec<String> {
    member(archive, "info/files")
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn outputs_solve_their_host_after_their_siblings_and_package_what_their_scripts_select() {
    let b = Builder::new();
    run_ok(&mut b.build(&["parity-split"], &["--quiet"]));
    let subdir = b.out.join("linux-64");
    let lib = subdir.join("libsplit-3.2.1-0.conda");
    assert_eq!(files_of(&lib), ["lib/libsplit.txt"]);
    // split-tools' host held libsplit, built moments before (its script checks conda-meta).
    let tools = subdir.join("split-tools-3.2.1-0.conda");
    assert_eq!(files_of(&tools), ["bin/split-tool"]);
    assert_eq!(
        member(&tools, "bin/split-tool"),
        "tools built against libsplit 3.2.1\n"
    );
    assert_eq!(
        json_member(&tools, "info/index.json")["depends"],
        serde_json::json!(["libsplit 3.2.1 0"])
    );
    // script + files: only the listed file of what install-docs.sh wrote.
    let docs = subdir.join("split-docs-3.2.1-0.conda");
    assert_eq!(files_of(&docs), ["share/doc/split/index.txt"]);
    // resolved_packages('host'): the run requirements are the solved host, exactly.
    let pinned = subdir.join("split-pinned-3.2.1-0.conda");
    assert_eq!(
        json_member(&pinned, "info/index.json")["depends"],
        serde_json::json!(["libsplit 3.2.1 0"])
    );
}

#[test]
fn absolute_links_into_the_prefix_become_relative_and_links_out_of_it_stop_the_build() {
    let b = Builder::new();
    run_ok(&mut b.build(&["parity-symlinks"], &["--quiet"]));
    let archive = b.out.join("noarch/parity-symlinks-1.0-0.conda");
    let dir = tempfile::tempdir().unwrap();
    rattler_package_streaming::fs::extract(&archive, dir.path()).unwrap();
    let links = dir.path().join("share/links");
    for name in ["absolute", "relative"] {
        assert_eq!(
            std::fs::read_link(links.join(name)).unwrap(),
            Path::new("../../lib/data.txt"),
            "{name}"
        );
    }
    let prefix = b.home.path().join("env");
    b.create(&prefix, &["parity-symlinks"], &[]);
    assert_eq!(
        std::fs::read_to_string(prefix.join("share/links/absolute")).unwrap(),
        "data\n"
    );
    for (mode, says) in [
        ("work", "may not exist after the build"),
        ("outside", "outside the prefix"),
    ] {
        let err = run_err(
            b.build(&["parity-symlinks"], &["--quiet"])
                .env("KRAIT_TEST_SYMLINK_MODE", mode),
        );
        assert!(
            err.contains(&format!("share/links/{mode}")) && err.contains(says),
            "{err}"
        );
    }
}

#[test]
fn test_environments_have_python_the_build_variables_and_the_test_files() {
    let b = Builder::new();
    let python = common::python::python_channel();
    let out = common::run(b.build(&["parity-test-env"], &[]).arg("-c").arg(&python));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("run_test.py ran with"), "{stderr}");
    for name in ["parity-test-env", "parity-test-env-extra"] {
        let archive = b.out.join(format!("noarch/{name}-1.0-2.conda"));
        // Kept in info/test, so that `krait test` can run them again.
        assert_eq!(
            member(&archive, "info/test/data/source.txt"),
            "source data\n"
        );
        assert_eq!(member(&archive, "info/test/expected.txt"), "expected\n");
    }
}

#[test]
fn every_source_archive_format_unpacks_and_a_deep_patch_finds_its_level() {
    let b = Builder::new();
    let copy = b.home.path().join("parity-sources");
    common::copy_dir(&recipe("parity-sources"), &copy);
    let payload = copy.join("payload");
    std::fs::create_dir_all(&payload).unwrap();
    let bsdtar = |args: &[&str]| {
        let status = Command::new("bsdtar")
            .args(args)
            .current_dir(&copy)
            .status()
            .expect("bsdtar (libarchive-tools) on PATH");
        assert!(status.success(), "bsdtar {args:?}");
    };
    for (text, args) in [
        (
            "7z",
            &["--format", "7zip", "-cf", "payload.7z", "payload"][..],
        ),
        ("lzma", &["--lzma", "-cf", "payload.tar.lzma", "payload"]),
        ("Z", &["-Z", "-cf", "payload.tar.Z", "payload"]),
    ] {
        std::fs::write(payload.join("hello.txt"), format!("hello {text}\n")).unwrap();
        bsdtar(args);
    }
    std::fs::create_dir_all(copy.join("demo")).unwrap();
    std::fs::write(copy.join("demo/__init__.py"), "").unwrap();
    bsdtar(&[
        "--format",
        "zip",
        "-cf",
        "demo-1.0-py3-none-any.whl",
        "demo",
    ]);
    run_ok(&mut b.build(&[copy.to_str().unwrap()], &["--quiet"]));
    let archive = b.out.join("noarch/parity-sources-1.0-0.conda");
    assert_eq!(
        member(&archive, "share/sources/all.txt"),
        "hello 7z\nhello lzma\nhello Z\npatched at -p4\n"
    );
    // The script's .DS_Store was left out.
    assert_eq!(files_of(&archive), ["share/sources/all.txt"]);
}

#[test]
fn a_license_folder_needs_its_trailing_slash() {
    let b = Builder::new();
    run_ok(&mut b.build(&["parity-license-dir"], &["--quiet"]));
    let archive = b.out.join("noarch/parity-license-dir-1.0-0.conda");
    assert_eq!(
        member(&archive, "info/licenses/LICENSES/MIT.txt"),
        "MIT License text\n"
    );
    assert_eq!(
        member(&archive, "info/licenses/LICENSES/APACHE.txt"),
        "Apache text\n"
    );
    let err = run_err(
        b.build(&["parity-license-dir"], &["--quiet"])
            .env("KRAIT_TEST_LICENSE", "LICENSES"),
    );
    assert!(
        err.contains("\"LICENSES\" is a directory") && err.contains("trailing `/`"),
        "{err}"
    );
}

#[test]
fn an_unreachable_channel_at_test_time_leaves_the_package_untested_not_broken() {
    let b = Builder::new();
    std::fs::write(b.home.path().join(".condarc"), "remote_max_retries: 0\n").unwrap();
    // A loopback port nothing listens on: the build needs no package, the test env does.
    let port = unused_loopback_port();
    let err = run_err(
        b.build(&["hello-generic"], &[])
            .arg("-c")
            .arg(format!("http://127.0.0.1:{port}/gone")),
    );
    let untested = b.out.join("untested/hello-generic-1.2.0-3.conda");
    assert!(
        err.contains("cannot create the test environment")
            && err.contains(&untested.display().to_string()),
        "{err}"
    );
    assert!(untested.is_file());
    assert!(!b.out.join("broken").exists());
    let repodata = std::fs::read_to_string(b.out.join("noarch/repodata.json")).unwrap();
    assert!(!repodata.contains("hello-generic"), "{repodata}");
}

#[test]
fn skip_existing_skips_packages_already_in_the_output_folder_or_a_channel_and_test_tests_archives()
{
    let b = Builder::new();
    let archive = b.out.join("noarch/hello-generic-1.2.0-3.conda");
    run_ok(&mut b.build(&["hello-generic"], &["--quiet"]));
    let skipped = |builder: &Builder, extra: &[&str]| {
        let mut args = vec!["--skip-existing"];
        args.extend(extra);
        let out = common::run(&mut builder.build(&["hello-generic"], &args));
        assert!(out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        (String::from_utf8(out.stdout).unwrap(), stderr)
    };
    let (stdout, stderr) = skipped(&b, &[]);
    assert!(stdout.is_empty(), "{stdout}");
    assert!(
        stderr.contains("skipping hello-generic-1.2.0-3: already built"),
        "{stderr}"
    );
    // In a -c channel counts too; the other output folder stays without it.
    let other = Builder::new();
    let (stdout, _) = skipped(&other, &["-c", b.out.to_str().unwrap()]);
    assert!(stdout.is_empty(), "{stdout}");
    assert!(!other
        .out
        .join("noarch/hello-generic-1.2.0-3.conda")
        .exists());
    // Without the flag it is built again.
    let out = run_ok(&mut b.build(&["hello-generic"], &[]));
    assert_eq!(out.trim(), archive.display().to_string());
    // conda build --test ARCHIVE.
    let out = run_ok(
        krait(b.home.path())
            .args(["build", "--test", "--override-channels"])
            .arg(&archive),
    );
    assert_eq!(out.trim(), format!("tests passed: {}", archive.display()));
}

#[test]
fn offline_builds_leave_out_uncached_remote_channels_and_explicit_lists_need_no_channel() {
    let b = Builder::new();
    let port = unused_loopback_port();
    let condarc = b.home.path().join(".condarc");
    std::fs::write(&condarc, "remote_max_retries: 0\n").unwrap();
    let remote = format!("http://127.0.0.1:{port}/never-cached");
    // Online the unreachable channel fails the build (its test environment).
    run_err(&mut b.build(&["hello-generic"], &["-c", &remote]));
    // conda's offline mode: a remote channel with no cached repodata is skipped.
    let out = common::run(&mut b.build(&["hello-generic"], &["-c", &remote, "--offline"]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!("skipping http://127.0.0.1:{port}/never-cached")),
        "{stderr}"
    );
    let archive = b.out.join("noarch/hello-generic-1.2.0-3.conda");
    assert!(archive.is_file());
    // An @EXPLICIT list names its packages' URLs: no configured channel is needed.
    std::fs::write(&condarc, "channels: []\n").unwrap();
    let explicit = b.home.path().join("explicit.txt");
    std::fs::write(
        &explicit,
        format!("@EXPLICIT\nfile://{}\n", archive.display()),
    )
    .unwrap();
    let prefix = b.home.path().join("explicit-env");
    run_ok(
        krait(b.home.path())
            .args(["create", "-y", "--file"])
            .arg(&explicit)
            .arg("-p")
            .arg(&prefix),
    );
    assert_greets(&prefix);
}
