//! Environments shared with real peers: py-rattler and krait install into each other's
//! prefixes and write the same conda-meta records; packages archived by
//! conda-package-handling install with krait.

mod common;

use common::fixtures::{Format, Package, PLACEHOLDER};
use common::{krait, peer_python, peer_script, run_ok};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn channel(dir: &Path) -> PathBuf {
    let ch = dir.join("channel");
    Package::new("liba", "1.0", "h0_0", "linux-64").write(&ch, Format::Conda);
    Package::new("libb", "2.0", "h0_0", "linux-64")
        .depends(&["liba >=1"])
        .file("etc/libb.conf", format!("home={PLACEHOLDER}\n"))
        .with_placeholder("etc/libb.conf", "text")
        .write(&ch, Format::TarBz2);
    Package::new("tool", "3.0", "0", "noarch")
        .depends(&["libb"])
        .write(&ch, Format::Conda);
    Package::new("extra", "0.5", "h0_0", "linux-64").write(&ch, Format::Conda);
    run_ok(krait(dir).arg("index").arg(&ch));
    ch
}

/// The conda-meta records of a prefix, keyed by name, reduced to what both tools must agree on.
fn records(prefix: &Path) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(prefix.join("conda-meta")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let v: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let mut files: Vec<String> = v["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f.as_str().unwrap().to_string())
            .collect();
        files.sort();
        let kept = serde_json::json!({
            "file": path.file_name().unwrap().to_string_lossy(),
            "version": v["version"], "build": v["build"], "build_number": v["build_number"],
            "url": v["url"], "sha256": v["sha256"], "md5": v["md5"], "size": v["size"],
            "depends": v["depends"], "subdir": v["subdir"], "files": files,
        });
        out.insert(v["name"].as_str().unwrap().to_string(), kept);
    }
    out
}

fn py_install(home: &Path, prefix: &Path, channel: &Path, specs: &[&str]) {
    let url = url::Url::from_directory_path(channel).unwrap();
    run_ok(
        peer_script("install.py")
            .arg(home.join("rattler-cache"))
            .arg(prefix)
            .arg(url.as_str())
            .args(specs),
    );
}

fn krait_install(home: &Path, sub: &str, prefix: &Path, channel: &Path, specs: &[&str]) {
    run_ok(
        krait(home)
            .arg(sub)
            .arg("-p")
            .arg(prefix)
            .args(["--override-channels", "-y", "-c"])
            .arg(channel)
            .args(specs),
    );
}

#[test]
fn krait_and_py_rattler_write_the_same_conda_meta_records() {
    let tmp = tempfile::tempdir().unwrap();
    let ch = channel(tmp.path());
    let ours = tmp.path().join("ours");
    let theirs = tmp.path().join("theirs");
    krait_install(tmp.path(), "create", &ours, &ch, &["tool"]);
    py_install(tmp.path(), &theirs, &ch, &["tool"]);
    assert_eq!(records(&ours), records(&theirs));
    for prefix in [&ours, &theirs] {
        let conf = std::fs::read_to_string(prefix.join("etc/libb.conf")).unwrap();
        assert_eq!(conf, format!("home={}\n", prefix.display()));
    }
}

#[test]
fn each_tool_installs_into_the_others_environment() {
    let tmp = tempfile::tempdir().unwrap();
    let ch = channel(tmp.path());
    // py-rattler made it, krait adds to it.
    let theirs = tmp.path().join("theirs");
    py_install(tmp.path(), &theirs, &ch, &["libb"]);
    krait_install(tmp.path(), "install", &theirs, &ch, &["extra"]);
    let names: Vec<String> = records(&theirs).into_keys().collect();
    assert_eq!(names, ["extra", "liba", "libb"]);
    // krait made it, py-rattler (which installs a whole solution) adds to it.
    let ours = tmp.path().join("ours");
    krait_install(tmp.path(), "create", &ours, &ch, &["liba"]);
    py_install(tmp.path(), &ours, &ch, &["liba", "extra"]);
    let names: Vec<String> = records(&ours).into_keys().collect();
    assert_eq!(names, ["extra", "liba"]);
    // And krait still reads and changes it afterwards.
    krait_install(tmp.path(), "remove", &ours, &ch, &["extra"]);
    assert!(!ours.join("share/extra/README").exists());
    assert_eq!(records(&ours).into_keys().collect::<Vec<_>>(), ["liba"]);
}

#[test]
fn packages_archived_by_conda_package_handling_install_with_krait() {
    let tmp = tempfile::tempdir().unwrap();
    let staging_channel = tmp.path().join("staging-channel");
    let archive = Package::new("cphpkg", "1.2", "h0_0", "linux-64")
        .file("etc/cphpkg.conf", format!("root={PLACEHOLDER}\n"))
        .with_placeholder("etc/cphpkg.conf", "text")
        .write(&staging_channel, Format::Conda);
    let staging = tmp.path().join("staging");
    rattler_package_streaming::fs::extract(&archive, &staging).unwrap();
    let ch = tmp.path().join("channel");
    let out = ch.join("linux-64");
    std::fs::create_dir_all(&out).unwrap();
    for name in ["cphpkg-1.2-h0_0.tar.bz2", "cphpkg-1.2-h0_0.conda"] {
        let cph = peer_python().parent().unwrap().join("cph");
        run_ok(
            std::process::Command::new(cph)
                .arg("create")
                .arg(&staging)
                .arg(name)
                .arg("--out-folder")
                .arg(&out),
        );
    }
    run_ok(krait(tmp.path()).arg("index").arg(&ch));
    for (i, format) in ["tar.bz2", "conda"].iter().enumerate() {
        // Keep only one format so the install must use it.
        let other = if *format == "conda" {
            "tar.bz2"
        } else {
            "conda"
        };
        let only = tmp.path().join(format!("only-{format}"));
        common::copy_dir(&ch, &only);
        std::fs::remove_file(only.join(format!("linux-64/cphpkg-1.2-h0_0.{other}"))).unwrap();
        std::fs::remove_dir_all(only.join(".cache")).ok();
        run_ok(krait(tmp.path()).arg("index").arg(&only));
        let prefix = tmp.path().join(format!("env{i}"));
        krait_install(tmp.path(), "create", &prefix, &only, &["cphpkg"]);
        let conf = std::fs::read_to_string(prefix.join("etc/cphpkg.conf")).unwrap();
        assert_eq!(conf, format!("root={}\n", prefix.display()));
        assert!(records(&prefix)["cphpkg"]["url"]
            .as_str()
            .unwrap()
            .ends_with(format));
    }
}

#[test]
fn create_from_spec_list_environment_yml_explicit_and_a_py_rattler_lockfile() {
    let tmp = tempfile::tempdir().unwrap();
    let ch = channel(tmp.path());
    let url = url::Url::from_directory_path(&ch).unwrap();
    let create_from = |name: &str, file: &Path, channel_args: &[&str]| -> PathBuf {
        let prefix = tmp.path().join(name);
        run_ok(
            krait(tmp.path())
                .args(["create", "-y", "--override-channels", "-p"])
                .arg(&prefix)
                .args(channel_args)
                .arg("--file")
                .arg(file),
        );
        prefix
    };
    let names = |prefix: &Path| records(prefix).into_keys().collect::<Vec<_>>();

    let list = tmp.path().join("specs.txt");
    std::fs::write(&list, "# what we need\nlibb >=2\nextra\n").unwrap();
    let p = create_from("from-list", &list, &["-c", ch.to_str().unwrap()]);
    assert_eq!(names(&p), ["extra", "liba", "libb"]);

    // environment.yml brings its own channels.
    let yml = tmp.path().join("environment.yml");
    std::fs::write(
        &yml,
        format!("name: demo\nchannels:\n  - {url}\ndependencies:\n  - tool\n"),
    )
    .unwrap();
    let p = create_from("from-yml", &yml, &[]);
    assert_eq!(names(&p), ["liba", "libb", "tool"]);

    // An @EXPLICIT file is installed as written, no solving: libb without its dependency.
    let libb = ch.join("linux-64/libb-2.0-h0_0.tar.bz2");
    let sha = hex::encode(
        rattler_digest::compute_bytes_digest::<rattler_digest::Sha256>(
            std::fs::read(&libb).unwrap(),
        ),
    );
    let explicit = tmp.path().join("explicit.txt");
    let libb_url = url::Url::from_file_path(&libb).unwrap();
    std::fs::write(
        &explicit,
        format!("# platform: linux-64\n@EXPLICIT\n{libb_url}#{sha}\n"),
    )
    .unwrap();
    let p = create_from("from-explicit", &explicit, &[]);
    assert_eq!(names(&p), ["libb"]);
    std::fs::write(
        &explicit,
        format!("@EXPLICIT\n{libb_url}#{}\n", "0".repeat(64)),
    )
    .unwrap();
    let err = common::run_err(
        krait(tmp.path())
            .args(["create", "-y", "-p"])
            .arg(tmp.path().join("bad-explicit"))
            .arg("--file")
            .arg(&explicit),
    );
    assert!(
        err.contains("explicit.txt") && err.contains("sha256"),
        "{err}"
    );

    // A lockfile py-rattler wrote.
    let lock = tmp.path().join("pixi.lock");
    run_ok(
        peer_script("lock.py")
            .arg(tmp.path().join("lock-cache"))
            .arg(&lock)
            .arg(url.as_str())
            .arg("tool"),
    );
    let p = create_from("from-lock", &lock, &[]);
    assert_eq!(names(&p), ["liba", "libb", "tool"]);
    std::fs::write(&lock, "version: 6\nenvironments: [oops\n").unwrap();
    let err = common::run_err(
        krait(tmp.path())
            .args(["create", "-y", "-p"])
            .arg(tmp.path().join("bad-lock"))
            .arg("--file")
            .arg(&lock),
    );
    assert!(err.contains("pixi.lock"), "{err}");
}

#[test]
fn krait_lock_writes_pixi_and_conda_lock_files_py_rattler_reads() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path();
    let channel = home.join("channel");
    for subdir in ["linux-64", "osx-arm64"] {
        Package::new("a", "1.0", "h0_0", subdir)
            .depends(&["b"])
            .write(&channel, Format::Conda);
    }
    Package::new("b", "2.0", "h0_0", "noarch").write(&channel, Format::Conda);
    run_ok(krait(home).arg("index").arg(&channel));
    // conda-lock files name packages by URL: the channel is served.
    let server = common::HttpServer::serve(&channel);
    let url = format!("{}/", server.url);
    run_ok(
        krait(home)
            .args([
                "lock",
                "--override-channels",
                "-p",
                "linux-64",
                "-p",
                "osx-arm64",
                "-c",
            ])
            .arg(&server.url)
            .arg("a")
            .current_dir(home),
    );
    let expected = serde_json::json!({
        "linux-64": [["a", format!("{url}linux-64/a-1.0-h0_0.conda")], ["b", format!("{url}noarch/b-2.0-h0_0.conda")]],
        "osx-arm64": [["a", format!("{url}osx-arm64/a-1.0-h0_0.conda")], ["b", format!("{url}noarch/b-2.0-h0_0.conda")]],
    });
    for file in ["pixi.lock", "conda-lock.yml"] {
        let read = run_ok(peer_script("read_lock.py").arg(home.join(file)));
        let read: Value = serde_json::from_str(&read).unwrap();
        assert_eq!(read, expected, "{file}");
    }
    let conda_lock = std::fs::read_to_string(home.join("conda-lock.yml")).unwrap();
    assert!(conda_lock.starts_with("version: 1\n"), "{conda_lock}");
    // krait installs what it locked.
    let prefix = home.join("from-conda-lock");
    run_ok(
        krait(home)
            .args(["create", "-y", "-p"])
            .arg(&prefix)
            .arg("--file")
            .arg(home.join("conda-lock.yml")),
    );
    assert_eq!(
        records(&prefix).keys().cloned().collect::<Vec<_>>(),
        ["a", "b"]
    );

    // From an environment.yml; a `pip:` section is refused, not dropped.
    let env_yml = home.join("environment.yml");
    std::fs::write(
        &env_yml,
        format!(
            "name: x\nchannels:\n  - {}\ndependencies:\n  - b\n",
            server.url
        ),
    )
    .unwrap();
    let only = home.join("only.lock");
    run_ok(
        krait(home)
            .args(["lock", "--override-channels", "-f"])
            .arg(&env_yml)
            .arg("--pixi-lock")
            .arg(&only),
    );
    let read: Value =
        serde_json::from_str(&run_ok(peer_script("read_lock.py").arg(&only))).unwrap();
    assert_eq!(read["linux-64"].as_array().unwrap().len(), 1);
    std::fs::write(
        &env_yml,
        format!(
            "name: x\nchannels:\n  - {}\ndependencies:\n  - b\n  - pip:\n    - six\n",
            channel.display()
        ),
    )
    .unwrap();
    let err = common::run_err(krait(home).args(["lock", "-f"]).arg(&env_yml));
    assert!(err.contains("pip:"), "{err}");
    // A lockfile's PyPI packages are refused by name, never dropped.
    let wheel = "http://127.0.0.1:9/packages/six-1.16.0-py2.py3-none-any.whl";
    let with_pypi = home.join("with-pypi.lock");
    std::fs::write(
        &with_pypi,
        format!(
            "version: 7\nplatforms:\n  - name: linux-64\nenvironments:\n  default:\n    \
             channels:\n      - url: {url}\n    indexes:\n      - http://127.0.0.1:9/simple\n    \
             packages:\n      linux-64:\n        - pypi: {wheel}\npackages:\n  - pypi: {wheel}\n    \
             name: six\n    version: 1.16.0\n    sha256: {}\n",
            "a".repeat(64)
        ),
    )
    .unwrap();
    let err = common::run_err(
        krait(home)
            .args(["create", "-y", "-p"])
            .arg(home.join("pypi-env"))
            .arg("--file")
            .arg(&with_pypi),
    );
    assert!(err.contains("PyPI") && err.contains("six==1.16.0"), "{err}");
    assert!(!home.join("pypi-env").exists());
}
