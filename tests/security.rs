//! Attacks on krait outside `krait serve` (those are in serve_security.rs; archives whose
//! paths or symlinks leave the prefix at install time are in env.rs). Each asserts the
//! refusal, with a message naming what was refused, and that nothing was written outside
//! where it belongs:
//! - damaged archives (content flipped inside a valid zip, truncated) in `index` and `upload`;
//! - `upload --to DIR` of an archive whose `info/index.json` names a subdir that is a path;
//! - `skeleton pypi` of an sdist whose `PKG-INFO` name is a path;
//! - the modes of everything krait writes (what the umask gives, not 0600);
//! - `kill -9` in the middle of linking, finished by the next command, and `krait doctor`;
//! - a cached package edited after extraction (same size, mtime set back) and
//!   `safety_checks`;
//! - builds whose symlinks point out of the prefix;
//! - hostile recipes: `../` in names, versions and build strings, source tarballs with `../`,
//!   absolute and symlink-escaping members;
//! - malformed repodata: truncated, wrong types, 100,000-deep nesting.

mod common;

use common::fixtures::{damaged_content, noise, Format, Package};
use common::{built_once, krait, run, run_err, run_ok};
use serde_json::Value;
use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// `cmd` run under `umask 022`, so that the modes of what it writes are known.
fn under_umask_022(cmd: &Command) -> Command {
    let mut sh = Command::new("sh");
    sh.args(["-c", "umask 022 && exec \"$@\"", "sh"])
        .arg(cmd.get_program())
        .args(cmd.get_args());
    for (key, value) in cmd.get_envs() {
        match value {
            Some(value) => sh.env(key, value),
            None => sh.env_remove(key),
        };
    }
    sh
}

/// `krait create -y --override-channels -c CHANNEL -p PREFIX SPEC...`.
fn create(home: &Path, channel: &Path, prefix: &Path, specs: &[&str]) -> Command {
    let mut cmd = krait(home);
    cmd.args(["create", "-y", "--override-channels", "-c"])
        .arg(channel)
        .arg("-p")
        .arg(prefix)
        .args(specs);
    cmd
}

/// `krait upload ARCHIVE --to DIR`, which must fail; its stderr.
fn upload_refused(home: &Path, archive: &Path, to: &Path) -> String {
    run_err(krait(home).arg("upload").arg(archive).arg("--to").arg(to))
}

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o7777
}

/// Every file and symlink under `dir` with its content (a symlink's: its target).
fn tree(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| !e.file_type().is_dir())
        .map(|e| {
            let content = if e.file_type().is_symlink() {
                std::fs::read_link(e.path())
                    .unwrap()
                    .into_os_string()
                    .into_encoded_bytes()
            } else {
                std::fs::read(e.path()).unwrap()
            };
            (e.path().strip_prefix(dir).unwrap().to_path_buf(), content)
        })
        .collect()
}

#[test]
fn damaged_archives_are_refused_by_index_and_upload_naming_them() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path();
    let dist = home.join("dist");
    let payload = |p: Package| p.file("share/data.txt", noise(8192, 7));
    let conda = payload(Package::new("flipped", "1.0", "0", "noarch")).write(&dist, Format::Conda);
    let bz2 = payload(Package::new("flippedb", "1.0", "0", "noarch")).write(&dist, Format::TarBz2);
    let cut = payload(Package::new("cut", "1.0", "0", "noarch")).write(&dist, Format::TarBz2);
    let channel = home.join("channel");
    Package::new("fine", "1.0", "0", "noarch").write(&channel, Format::Conda);
    let noarch = channel.join("noarch");
    std::fs::write(noarch.join("flipped-1.0-0.conda"), damaged_content(&conda)).unwrap();
    std::fs::write(noarch.join("flippedb-1.0-0.tar.bz2"), damaged_content(&bz2)).unwrap();
    let whole = std::fs::read(&cut).unwrap();
    std::fs::write(
        noarch.join("cut-1.0-0.tar.bz2"),
        &whole[..whole.len() * 2 / 3],
    )
    .unwrap();

    let out = run(krait(home).args(["index", "--json"]).arg(&channel));
    assert!(!out.status.success(), "damaged archives were indexed");
    let reports: Value = serde_json::from_slice(&out.stdout).unwrap();
    let noarch_report = reports
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["subdir"] == "noarch")
        .unwrap();
    let bad: BTreeMap<String, String> = noarch_report["bad"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            let path = PathBuf::from(b["path"].as_str().unwrap());
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, b["reason"].as_str().unwrap().to_string())
        })
        .collect();
    assert_eq!(
        bad.keys().collect::<Vec<_>>(),
        [
            "cut-1.0-0.tar.bz2",
            "flipped-1.0-0.conda",
            "flippedb-1.0-0.tar.bz2"
        ],
        "{bad:?}"
    );
    assert!(
        bad["flipped-1.0-0.conda"].contains("pkg-flipped-1.0-0.tar.zst"),
        "{bad:?}"
    );
    let repodata: Value =
        serde_json::from_slice(&std::fs::read(noarch.join("repodata.json")).unwrap()).unwrap();
    let listed: Vec<&String> = repodata["packages"]
        .as_object()
        .unwrap()
        .keys()
        .chain(repodata["packages.conda"].as_object().unwrap().keys())
        .collect();
    assert_eq!(listed, ["fine-1.0-0.conda"]);

    // `upload --to DIR` reads the same way and refuses before writing anything.
    let target = home.join("target");
    std::fs::create_dir_all(&target).unwrap();
    let to_upload = home.join("upload").join("flipped-1.0-0.conda");
    std::fs::create_dir_all(to_upload.parent().unwrap()).unwrap();
    std::fs::write(&to_upload, damaged_content(&conda)).unwrap();
    let err = upload_refused(home, &to_upload, &target);
    assert!(
        err.contains(&to_upload.display().to_string()) && err.contains("pkg-flipped-1.0-0.tar.zst"),
        "{err}"
    );
    assert!(tree(&target).is_empty(), "{:?}", tree(&target));
}

#[test]
fn upload_into_a_folder_refuses_subdirs_that_are_not_platforms() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path();
    let channel = home.join("a/b/channel");
    std::fs::create_dir_all(&channel).unwrap();
    let absolute = home.join("abs/ABS");
    let archives = home.join("archives");
    std::fs::create_dir_all(&archives).unwrap();
    // Package::write puts an archive under <dir>/<subdir>: made deep enough that the escaping
    // subdir stays in this test's folder, then moved next to the others.
    let made = home.join("x/y/made");
    for (name, subdir) in [
        ("escaping", "../../ESCAPED".to_string()),
        ("absolute", absolute.display().to_string()),
        ("unknown", "linux-unknown".to_string()),
    ] {
        let written = Package::new(name, "1.0", "0", &subdir).write(&made, Format::Conda);
        std::fs::rename(&written, archives.join(written.file_name().unwrap())).unwrap();
    }
    let _ = std::fs::remove_dir_all(home.join("abs"));
    let _ = std::fs::remove_dir_all(home.join("x/ESCAPED"));
    for name in ["escaping", "absolute", "unknown"] {
        let archive = archives.join(format!("{name}-1.0-0.conda"));
        let err = upload_refused(home, &archive, &channel);
        assert!(
            err.contains(&archive.display().to_string()) && err.contains("not a conda platform"),
            "{err}"
        );
    }
    assert!(tree(&channel).is_empty(), "{:?}", tree(&channel));
    assert!(!home.join("a/ESCAPED").exists());
    assert!(!absolute.exists());
}

/// An sdist holding `demo-1.0/PKG-INFO` with `name`.
fn sdist_named(dir: &Path, file: &str, name: &str) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join(file);
    let gz = flate2::write::GzEncoder::new(
        std::fs::File::create(&path).unwrap(),
        flate2::Compression::default(),
    );
    let mut tar = tar::Builder::new(gz);
    let pkg_info = format!("Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\nSummary: s\n");
    let mut header = tar::Header::new_gnu();
    header.set_size(pkg_info.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    tar.append_data(&mut header, "demo-1.0/PKG-INFO", pkg_info.as_bytes())
        .unwrap();
    tar.into_inner().unwrap().finish().unwrap();
    path
}

#[test]
fn skeleton_refuses_project_names_that_are_paths() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path();
    let out = home.join("out/recipes");
    std::fs::create_dir_all(&out).unwrap();
    let absolute = home.join("ABS");
    for (i, name) in [
        absolute.display().to_string(),
        "a/b/NESTED".to_string(),
        "../UP".to_string(),
        "..".to_string(),
    ]
    .iter()
    .enumerate()
    {
        let sdist = sdist_named(
            &home.join("sdists"),
            &format!("hostile{i}-1.0.tar.gz"),
            name,
        );
        let err = run_err(
            krait(home)
                .args(["skeleton", "pypi", "--sdist"])
                .arg(&sdist)
                .arg("--output-dir")
                .arg(&out),
        );
        assert!(
            err.contains(&sdist.display().to_string()) && err.contains("not a PEP 508 name"),
            "{name}: {err}"
        );
    }
    assert!(tree(&home.join("out")).is_empty());
    assert!(!absolute.exists() && !home.join("out/UP").exists());
}

#[test]
fn written_files_get_the_mode_the_umask_gives() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path();
    let channel = home.join("channel");
    Package::new("moded", "1.0", "h0_0", "linux-64").write(&channel, Format::Conda);
    let upload = Package::new("uploaded", "1.0", "h0_0", "linux-64")
        .write(&home.join("dist"), Format::TarBz2);
    run_ok(&mut under_umask_022(krait(home).arg("index").arg(&channel)));
    run_ok(&mut under_umask_022(
        krait(home)
            .arg("upload")
            .arg(&upload)
            .arg("--to")
            .arg(&channel),
    ));
    let prefix = home.join("env");
    run_ok(&mut under_umask_022(&create(
        home,
        &channel,
        &prefix,
        &["moded", "uploaded"],
    )));
    let sdist = sdist_named(&home.join("sdists"), "demo-1.0.tar.gz", "demo");
    run_ok(&mut under_umask_022(
        krait(home)
            .args(["skeleton", "pypi", "--sdist"])
            .arg(&sdist)
            .arg("--output-dir")
            .arg(home.join("recipes")),
    ));
    let mut written = vec![
        channel.join("linux-64/repodata.json"),
        channel.join("linux-64/repodata.json.zst"),
        channel.join("noarch/repodata.json"),
        channel.join("linux-64/uploaded-1.0-h0_0.tar.bz2"),
        prefix.join("conda-meta/history"),
        home.join("recipes/demo/meta.yaml"),
    ];
    let records: Vec<PathBuf> = std::fs::read_dir(prefix.join("conda-meta"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    assert_eq!(records.len(), 2);
    written.extend(records);
    for path in &written {
        assert_eq!(mode(path), 0o644, "{}", path.display());
    }
    // A file that is replaced keeps the mode its owner gave it.
    let repodata = channel.join("linux-64/repodata.json");
    std::fs::set_permissions(&repodata, std::fs::Permissions::from_mode(0o640)).unwrap();
    run_ok(&mut under_umask_022(
        krait(home).args(["index", "--force"]).arg(&channel),
    ));
    assert_eq!(mode(&repodata), 0o640);
}

/// 50 packages of 60 small files each, and a `base` package: linking them with `--copy`
/// takes long enough to be interrupted part-way.
fn many_files_channel() -> PathBuf {
    built_once("security-many-files-v2", |channel| {
        Package::new("base", "1.0", "h0_0", "linux-64").write(channel, Format::Conda);
        for i in 0..50 {
            let mut package = Package::new(&format!("p{i:02}"), "1.0", "h0_0", "linux-64");
            for f in 0..60 {
                package = package.file(
                    &format!("share/p{i:02}/f{f:03}.txt"),
                    noise(1024, (i * 1000 + f) as u64),
                );
            }
            package.write(channel, Format::Conda);
        }
        run_ok(krait(channel.parent().unwrap()).arg("index").arg(channel));
    })
}

fn records_in(prefix: &Path) -> usize {
    std::fs::read_dir(prefix.join("conda-meta"))
        .map(|d| {
            d.filter(|e| {
                e.as_ref()
                    .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "json"))
            })
            .count()
        })
        .unwrap_or(0)
}

#[test]
fn a_killed_install_is_rolled_back_by_the_next_command() {
    let channel = many_files_channel();
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path();
    let packages: Vec<String> = (0..50).map(|i| format!("p{i:02}")).collect();
    let install = |prefix: &Path| {
        let mut cmd = krait(home);
        cmd.args(["install", "-y", "-q", "--copy", "--override-channels", "-c"])
            .arg(&channel)
            .arg("-p")
            .arg(prefix)
            .args(&packages);
        cmd
    };
    // An extraction folder a killed fetch left in the package cache.
    let abandoned = home.join("pkgs/.p07-1.0-h0_0Xy12Ab");
    std::fs::create_dir_all(abandoned.join("share")).unwrap();
    std::fs::write(abandoned.join("share/partial"), "half").unwrap();

    let mut interrupted = None;
    for attempt in 0..5 {
        let prefix = home.join(format!("env{attempt}"));
        run_ok(&mut create(home, &channel, &prefix, &["base"]));
        let before = tree(&prefix);
        let mut child = install(&prefix)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Kill once a few packages are linked and recorded, as `kill -9` would.
        let deadline = std::time::Instant::now() + Duration::from_secs(120);
        while records_in(&prefix) < 4 && std::time::Instant::now() < deadline {
            if child.try_wait().unwrap().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        let still_running = child.try_wait().unwrap().is_none();
        child.kill().unwrap();
        child.wait().unwrap();
        let journal = prefix
            .join(".krait-rollback")
            .join(child.id().to_string())
            .join("journal");
        if still_running && journal.exists() {
            interrupted = Some((prefix, before, child.id()));
            break;
        }
    }
    let (prefix, before, pid) =
        interrupted.expect("the install was never caught in the middle of linking");
    let half = records_in(&prefix);
    assert!(half > 1, "{half} records");
    // The next command that takes the prefix lock finishes the rollback first.
    let out = run(krait(home).arg("doctor").arg("-p").arg(&prefix));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "rolled back the unfinished transaction of krait process {pid}"
        )),
        "{stderr}"
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(tree(&prefix), before, "the prefix is not as it was");
    assert!(!prefix.join(".krait-rollback").exists());
    // And the install, run again, completes.
    run_ok(&mut install(&prefix));
    assert_eq!(records_in(&prefix), 51);
    assert!(
        !abandoned.exists(),
        "the abandoned extraction folder is still there"
    );
    run_ok(krait(home).arg("doctor").arg("-p").arg(&prefix));
}

#[test]
fn doctor_reports_missing_altered_and_unowned_files() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path();
    let channel = home.join("channel");
    Package::new("doc", "1.0", "h0_0", "linux-64")
        .file("share/doc/a.txt", "first\n")
        .file("share/doc/b.txt", "second\n")
        .symlink("share/doc/link", "a.txt")
        .write(&channel, Format::Conda);
    run_ok(krait(home).arg("index").arg(&channel));
    let prefix = home.join("env");
    run_ok(&mut create(home, &channel, &prefix, &["doc"]));
    let healthy = run_ok(krait(home).arg("doctor").arg("-p").arg(&prefix));
    assert!(
        healthy.contains(&format!(
            "Environment Health Report for: {}",
            prefix.display()
        )) && healthy.contains("✅ There are no packages with missing files.")
            && healthy.contains("✅ There are no packages with altered files.")
            && healthy.contains("✅ The environment is listed in the environments.txt file."),
        "{healthy}"
    );
    std::fs::remove_file(prefix.join("share/doc/a.txt")).unwrap();
    std::fs::write(prefix.join("share/doc/b.txt"), "SECOND\n").unwrap();
    std::fs::write(prefix.join("share/doc/extra.txt"), "mine\n").unwrap();
    std::fs::create_dir_all(prefix.join("share/doc/__pycache__")).unwrap();
    std::fs::write(prefix.join("share/doc/__pycache__/x.pyc"), "cache").unwrap();
    let out = run(krait(home).arg("doctor").arg("-p").arg(&prefix));
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("❌ Missing Files:\n\ndoc-1.0-h0_0: 1\n  share/doc/a.txt\n")
            && text.contains("❌ Altered Files:\n\ndoc-1.0-h0_0: 1\n  share/doc/b.txt\n")
            && text.contains("❌ Files no package owns: 1\n\n  share/doc/extra.txt\n")
            && !text.contains("x.pyc"),
        "{text}"
    );
    let out = run(krait(home).args(["doctor", "--json", "-p"]).arg(&prefix));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        report["missing_files"]["doc-1.0-h0_0"][0],
        "share/doc/a.txt"
    );
    assert_eq!(
        report["altered_files"]["doc-1.0-h0_0"][0],
        "share/doc/b.txt"
    );
    assert_eq!(report["unowned_files"][0], "share/doc/extra.txt");
}

#[test]
fn reused_cache_entries_are_checked_file_by_file() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path();
    let channel = home.join("channel");
    Package::new("cached", "1.0", "h0_0", "linux-64")
        .file("share/cached/data.txt", "original content\n")
        .write(&channel, Format::Conda);
    Package::new("selfbad", "1.0", "h0_0", "linux-64")
        .file("share/selfbad/x.txt", "what paths.json does not say\n")
        .with_wrong_sha256("share/selfbad/x.txt")
        .write(&channel, Format::Conda);
    run_ok(krait(home).arg("index").arg(&channel));
    let create_env =
        |prefix: &str, spec: &str| run(&mut create(home, &channel, &home.join(prefix), &[spec]));
    assert!(create_env("a", "cached").status.success());
    let cached = home.join("pkgs/cached-1.0-h0_0/share/cached/data.txt");
    // An edit of the same size, with the modification time put back.
    let tamper = || {
        let mtime = std::fs::metadata(&cached).unwrap().modified().unwrap();
        std::fs::write(&cached, "ALTERED content!\n").unwrap();
        std::fs::File::options()
            .write(true)
            .open(&cached)
            .unwrap()
            .set_modified(mtime)
            .unwrap();
    };
    tamper();
    let out = create_env("b", "cached");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("cached-1.0-h0_0") && stderr.contains("the cached copy was modified"),
        "{stderr}"
    );
    let data = |prefix: &str| {
        std::fs::read_to_string(home.join(prefix).join("share/cached/data.txt")).unwrap()
    };
    assert_eq!(data("b"), "original content\n");
    assert_eq!(
        std::fs::read_to_string(&cached).unwrap(),
        "original content\n"
    );
    // The entry was stamped good after linking (so an unchanged entry is not hashed again);
    // an edit after the stamp is still caught.
    assert!(home.join("pkgs/cached-1.0-h0_0.krait-verified").is_file());
    let out = create_env("b2", "cached");
    assert!(!String::from_utf8_lossy(&out.stderr).contains("modified"));
    std::thread::sleep(Duration::from_millis(20));
    tamper();
    let out = create_env("b3", "cached");
    assert!(String::from_utf8_lossy(&out.stderr).contains("the cached copy was modified"));
    assert_eq!(data("b3"), "original content\n");

    // safety_checks: disabled trusts the cache as it is.
    let condarc = home.join(".condarc");
    std::fs::write(&condarc, "safety_checks: disabled\n").unwrap();
    tamper();
    let out = create_env("c", "cached");
    assert!(out.status.success());
    assert_eq!(data("c"), "ALTERED content!\n");

    // A package whose own files contradict its paths.json: refused when enabled, linked
    // with a warning otherwise.
    std::fs::write(
        &condarc,
        "safety_checks: enabled\nextra_safety_checks: true\n",
    )
    .unwrap();
    let out = create_env("d", "selfbad");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("selfbad-1.0-h0_0")
            && stderr.contains("share/selfbad/x.txt")
            && stderr.contains("safety_checks: enabled"),
        "{stderr}"
    );
    assert!(!home.join("d").exists());
    std::fs::write(&condarc, "safety_checks: warn\nextra_safety_checks: true\n").unwrap();
    let out = create_env("e", "selfbad");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("safety_checks: warn"), "{stderr}");
    std::fs::write(&condarc, "safety_checks: sometimes\n").unwrap();
    let err = String::from_utf8_lossy(&create_env("f", "cached").stderr).into_owned();
    assert!(
        err.contains("safety_checks") && err.contains("expected enabled, warn or disabled"),
        "{err}"
    );
}

/// A recipe folder `<dir>/<name>/meta.yaml`.
fn recipe(dir: &Path, name: &str, meta: &str) -> PathBuf {
    let folder = dir.join(name);
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(folder.join("meta.yaml"), meta).unwrap();
    folder
}

fn build(home: &Path, recipe: &Path) -> Command {
    let mut cmd = krait(home);
    cmd.arg("build")
        .arg(recipe)
        .args(["--no-test", "--override-channels", "--output-folder"])
        .arg(home.join("out"))
        .arg("--croot")
        .arg(home.join("croot"));
    cmd
}

#[test]
fn builds_refuse_symlinks_out_of_the_prefix() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path();
    let recipes = home.join("recipes");
    let links = recipe(
        &recipes,
        "links",
        "package:\n  name: links\n  version: \"1.0\"\nbuild:\n  noarch: generic\n  script:\n    - mkdir -p $PREFIX/share/links\n    - echo hi > $PREFIX/share/links/file\n    - ln -s file $PREFIX/share/links/ok\n    - ln -s /etc/passwd $PREFIX/share/links/abs\n    - ln -s ../../../../../../outside $PREFIX/share/links/up\n",
    );
    let err = run_err(&mut build(home, &links));
    assert!(
        err.contains("symlinks pointing out of the prefix")
            && err.contains("share/links/abs -> /etc/passwd")
            && err.contains("share/links/up -> ../../../../../../outside")
            && !err.contains("share/links/ok ->"),
        "{err}"
    );
    assert!(!home.join("out/noarch/links-1.0-0.conda").exists());
    // Without them it builds, and the archive is readable by others (umask 022).
    let fine = recipe(
        &recipes,
        "fine",
        "package:\n  name: fine\n  version: \"1.0\"\nbuild:\n  noarch: generic\n  script:\n    - mkdir -p $PREFIX/share/fine\n    - echo hi > $PREFIX/share/fine/file\n    - ln -s file $PREFIX/share/fine/ok\n",
    );
    run_ok(&mut under_umask_022(&build(home, &fine)));
    assert_eq!(mode(&home.join("out/noarch/fine-1.0-0.conda")), 0o644);
}

/// A `.tar.gz` whose member names are written as given (the tar crate refuses to build `..`
/// and absolute names), optionally with a symlink member.
fn hostile_tarball(path: &Path, members: &[(&str, Option<&str>)]) {
    let gz = flate2::write::GzEncoder::new(
        std::fs::File::create(path).unwrap(),
        flate2::Compression::default(),
    );
    let mut tar = tar::Builder::new(gz);
    for (name, link) in members {
        let mut header = tar::Header::new_gnu();
        let field = &mut header.as_gnu_mut().unwrap().name;
        field[..name.len()].copy_from_slice(name.as_bytes());
        header.set_mode(0o644);
        let data: &[u8] = b"escaped\n";
        match link {
            Some(target) => {
                header.set_entry_type(tar::EntryType::Symlink);
                let field = &mut header.as_gnu_mut().unwrap().linkname;
                field[..target.len()].copy_from_slice(target.as_bytes());
                header.set_size(0);
                header.set_cksum();
                tar.append(&header, &[][..]).unwrap();
            }
            None => {
                header.set_entry_type(tar::EntryType::Regular);
                header.set_size(data.len() as u64);
                header.set_cksum();
                tar.append(&header, data).unwrap();
            }
        }
    }
    tar.into_inner().unwrap().finish().unwrap();
}

#[test]
fn hostile_recipes_write_nothing_outside_their_folders() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path();
    let recipes = home.join("recipes");
    for (name, meta, refusal) in [
        (
            "name",
            "package:\n  name: ../../../ESCAPE-name\n  version: \"1.0\"\n",
            "invalid package name",
        ),
        (
            "version",
            "package:\n  name: fine\n  version: \"../../../ESCAPE\"\n",
            "invalid version",
        ),
        (
            "string",
            "package:\n  name: fine\n  version: \"1.0\"\nbuild:\n  string: ../../../ESCAPE-string\n",
            "bad character `/` in build/string",
        ),
    ] {
        let folder = recipe(&recipes, name, meta);
        let err = run_err(&mut build(home, &folder));
        assert!(err.contains(refusal), "{name}: {err}");
    }
    // A source tarball climbing out with `..`, an absolute name, and a symlink to a folder
    // outside followed by a file "inside" that link.
    let outside = home.join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    let absolute = home.join("ESCAPE-absolute.txt");
    let tarball = home.join("hostile-1.0.tar.gz");
    hostile_tarball(
        &tarball,
        &[
            ("src/ok.txt", None),
            ("../../../../ESCAPE-dotdot.txt", None),
            (absolute.to_str().unwrap(), None),
            ("src/link", Some(outside.to_str().unwrap())),
            ("src/link/ESCAPE-through.txt", None),
        ],
    );
    let sha256 = hex::encode(
        rattler_digest::compute_bytes_digest::<rattler_digest::Sha256>(
            std::fs::read(&tarball).unwrap(),
        ),
    );
    let folder = recipe(
        &recipes,
        "source",
        &format!(
            "package:\n  name: hostile-source\n  version: \"1.0\"\nsource:\n  url: file://{}\n  sha256: {sha256}\nbuild:\n  noarch: generic\n  script:\n    - mkdir -p $PREFIX/share/hostile\n    - cp -R . $PREFIX/share/hostile/ || true\n",
            tarball.display()
        ),
    );
    let _ = run(&mut build(home, &folder));
    assert!(std::fs::read_dir(&outside).unwrap().next().is_none());
    assert!(!absolute.exists());
    // Whatever tar made of those names stayed in the build's work folder.
    let croot = home.join("croot");
    let escaped: Vec<PathBuf> = walkdir::WalkDir::new(home)
        .into_iter()
        .filter_map(Result::ok)
        .map(|e| e.path().to_path_buf())
        .filter(|p| p.to_string_lossy().contains("ESCAPE") && !p.starts_with(&croot))
        .collect();
    assert!(escaped.is_empty(), "{escaped:?}");
}

#[test]
fn malformed_repodata_is_an_error_naming_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path();
    let record = r#""a-1-0.tar.bz2":{"name":"a","version":"1","build":"0","build_number":0,"depends":[],"subdir":"linux-64"}"#;
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    for (name, text) in [
        ("truncated", format!(r#"{{"info":{{"subdir":"linux-64"}},"packages":{{{record}"#)),
        (
            "types",
            r#"{"info":{"subdir":"linux-64"},"packages":{"a-1-0.tar.bz2":{"name":5,"version":[],"build":{},"build_number":"x","depends":"no"}}}"#.to_string(),
        ),
        (
            "deep-record",
            format!(r#"{{"info":{{"subdir":"linux-64"}},"packages":{{"a-1-0.tar.bz2":{deep}}}}}"#),
        ),
        ("deep-document", deep.clone()),
    ] {
        let channel = home.join(name);
        std::fs::create_dir_all(channel.join("linux-64")).unwrap();
        std::fs::create_dir_all(channel.join("noarch")).unwrap();
        std::fs::write(
            channel.join("noarch/repodata.json"),
            r#"{"info":{"subdir":"noarch"},"packages":{}}"#,
        )
        .unwrap();
        let file = channel.join("linux-64/repodata.json");
        std::fs::write(&file, text).unwrap();
        let out = run(krait(home)
            .args(["search", "--override-channels", "--platform", "linux-64", "-c"])
            .arg(&channel)
            .arg("a"));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{name}: {stderr}");
        assert!(
            stderr.contains(&file.display().to_string()) && stderr.contains("malformed repodata"),
            "{name}: {stderr}"
        );
    }
    // Nesting the parser skips over (a key it does not know) is read, not a crash.
    let channel = home.join("deep-ignored");
    std::fs::create_dir_all(channel.join("linux-64")).unwrap();
    std::fs::create_dir_all(channel.join("noarch")).unwrap();
    std::fs::write(
        channel.join("noarch/repodata.json"),
        r#"{"info":{"subdir":"noarch"},"packages":{}}"#,
    )
    .unwrap();
    std::fs::write(
        channel.join("linux-64/repodata.json"),
        format!(r#"{{"info":{{"subdir":"linux-64"}},"x":{deep},"packages":{{{record}}}}}"#),
    )
    .unwrap();
    let found = run_ok(
        krait(home)
            .args([
                "search",
                "--override-channels",
                "--platform",
                "linux-64",
                "-c",
            ])
            .arg(&channel)
            .arg("a"),
    );
    assert!(found.contains("a "), "{found}");
}
