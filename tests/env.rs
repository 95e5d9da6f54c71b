//! Environments end to end: create, install, remove, update, revisions, pinned specs, rollback,
//! locking, prefix replacement, noarch python on a real CPython, bad input.

mod common;

use common::fixtures::{Format, Package, PLACEHOLDER};
use common::{krait, run, run_err, run_ok};
use serde_json::Value;
use std::collections::BTreeMap;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};

/// The fixture channel: dependency chains, a conflict, prefix placeholders, a shebang script,
/// a failing post-link script, a noarch python package with an entry point.
fn fixture_channel(dir: &Path) -> PathBuf {
    let ch = dir.join("channel");
    let c = Format::Conda;
    Package::new("libc-lite", "1.0", "h0_0", "linux-64").write(&ch, c);
    Package::new("libc-lite", "2.0", "h0_0", "linux-64").write(&ch, Format::TarBz2);
    Package::new("libb", "1.0", "h0_0", "linux-64")
        .depends(&["libc-lite"])
        .write(&ch, c);
    Package::new("appa", "1.0", "h0_0", "linux-64")
        .depends(&["libb"])
        .write(&ch, c);
    Package::new("oldie", "1.0", "h0_0", "linux-64")
        .depends(&["libc-lite <1"])
        .write(&ch, c);
    Package::new("newer-glibc", "1.0", "h0_0", "linux-64")
        .depends(&["__glibc >=2.17"])
        .write(&ch, c);
    Package::new("tools", "1.0", "h0_0", "linux-64")
        .file("etc/tools.conf", format!("prefix={PLACEHOLDER}\n"))
        .with_placeholder("etc/tools.conf", "text")
        .file(
            "lib/tools.bin",
            [
                b"\x7fBIN\0".as_slice(),
                PLACEHOLDER.as_bytes(),
                b"/lib\0tail\0",
            ]
            .concat(),
        )
        .with_placeholder("lib/tools.bin", "binary")
        .executable(
            "bin/tools-hello",
            format!("#!{PLACEHOLDER}/bin/sh-not-there\necho hello\n"),
        )
        .executable(
            "bin/tools-where",
            format!("#!/bin/sh\necho {PLACEHOLDER}\n"),
        )
        .with_placeholder("bin/tools-where", "text")
        .write(&ch, c);
    Package::new("breaks", "1.0", "h0_0", "linux-64")
        .executable(
            "bin/.breaks-post-link.sh",
            "#!/bin/sh\necho failing on purpose >&2\nexit 3\n",
        )
        .write(&ch, c);
    // Its post-link script says it started, then waits: time to press Ctrl-C.
    Package::new("slow", "1.0", "h0_0", "linux-64")
        .executable(
            "bin/.slow-post-link.sh",
            "#!/bin/sh\ntouch \"$PREFIX/../slow-post-link-started\"\nexec sleep 30 </dev/null >/dev/null 2>&1\n",
        )
        .write(&ch, c);
    let mut hello = Package::new("hello-py", "0.1", "pyh0_0", "noarch")
        .depends(&["python >=3.8"])
        .file(
            "site-packages/hello_py/__init__.py",
            "import sys\n\ndef main():\n    print('hello from', sys.prefix)\n",
        )
        .file(
            "site-packages/hello_py-0.1.dist-info/METADATA",
            "Name: hello-py\nVersion: 0.1\n",
        );
    hello.noarch = Some("python");
    hello.link_json = Some(serde_json::json!({
        "noarch": {"type": "python", "entry_points": ["hello-py = hello_py:main"]},
        "package_metadata_version": 1
    }));
    hello.write(&ch, c);
    run_ok(krait(dir).arg("index").arg(&ch));
    ch
}

struct Env {
    home: tempfile::TempDir,
    channel: PathBuf,
}

impl Env {
    fn new() -> Env {
        let home = tempfile::tempdir().unwrap();
        let channel = fixture_channel(home.path());
        Env { home, channel }
    }

    fn prefix(&self, name: &str) -> PathBuf {
        self.home.path().join(name)
    }

    /// `krait SUB -p PREFIX -c CHANNEL --override-channels -y ARGS...`.
    fn cmd(&self, sub: &str, prefix: &Path, args: &[&str]) -> std::process::Command {
        let mut cmd = krait(self.home.path());
        cmd.arg(sub)
            .arg("-p")
            .arg(prefix)
            .args(["--override-channels", "-y", "-c"])
            .arg(&self.channel)
            .args(args);
        cmd
    }

    fn ok(&self, sub: &str, prefix: &Path, args: &[&str]) -> String {
        run_ok(&mut self.cmd(sub, prefix, args))
    }

    fn err(&self, sub: &str, prefix: &Path, args: &[&str]) -> String {
        run_err(&mut self.cmd(sub, prefix, args))
    }
}

/// name -> version-build of what conda-meta records.
fn installed(prefix: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(prefix.join("conda-meta")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "json") {
            let v: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            out.insert(
                v["name"].as_str().unwrap().to_string(),
                format!(
                    "{}-{}",
                    v["version"].as_str().unwrap(),
                    v["build"].as_str().unwrap()
                ),
            );
        }
    }
    out
}

fn record(prefix: &Path, name: &str) -> Value {
    let entry = std::fs::read_dir(prefix.join("conda-meta"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            let file = p.file_name().unwrap().to_string_lossy();
            file.starts_with(&format!("{name}-"))
                && file.ends_with(".json")
                && file[name.len() + 1..]
                    .chars()
                    .next()
                    .unwrap()
                    .is_ascii_digit()
        })
        .unwrap_or_else(|| panic!("no record for {name}"));
    serde_json::from_str(&std::fs::read_to_string(entry).unwrap()).unwrap()
}

/// Every path under a prefix with its content, to compare whole prefixes.
fn tree(prefix: &Path) -> BTreeMap<String, Vec<u8>> {
    walkdir::WalkDir::new(prefix)
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| !e.file_type().is_dir())
        .map(|e| {
            let rel = e.path().strip_prefix(prefix).unwrap().display().to_string();
            let content = if e.file_type().is_symlink() {
                std::fs::read_link(e.path())
                    .unwrap()
                    .display()
                    .to_string()
                    .into_bytes()
            } else {
                std::fs::read(e.path()).unwrap()
            };
            (rel, content)
        })
        .filter(|(rel, _)| rel != "conda-meta/.krait.lock")
        .collect()
}

#[test]
fn create_links_a_dependency_chain_with_prefix_replacement_and_history() {
    let env = Env::new();
    let prefix = env.prefix("one");
    env.ok("create", &prefix, &["appa", "tools"]);
    assert_eq!(
        installed(&prefix),
        BTreeMap::from([
            ("appa".into(), "1.0-h0_0".into()),
            ("libb".into(), "1.0-h0_0".into()),
            ("libc-lite".into(), "2.0-h0_0".into()),
            ("tools".into(), "1.0-h0_0".into()),
        ])
    );
    let appa = record(&prefix, "appa");
    assert_eq!(appa["requested_spec"], "appa");
    assert!(appa["url"]
        .as_str()
        .unwrap()
        .ends_with("/linux-64/appa-1.0-h0_0.conda"));
    assert!(record(&prefix, "libb")
        .get("requested_spec")
        .is_none_or(|s| s.is_null()));
    // Text and binary placeholders replaced; binary files keep their length.
    let conf = std::fs::read_to_string(prefix.join("etc/tools.conf")).unwrap();
    assert_eq!(conf, format!("prefix={}\n", prefix.display()));
    let bin = std::fs::read(prefix.join("lib/tools.bin")).unwrap();
    let original_len = 5 + PLACEHOLDER.len() + 10;
    assert_eq!(bin.len(), original_len);
    let expected_start = [
        b"\x7fBIN\0".as_slice(),
        prefix.to_str().unwrap().as_bytes(),
        b"/lib\0",
    ]
    .concat();
    assert!(
        bin.starts_with(&expected_start),
        "{:?}",
        String::from_utf8_lossy(&bin)
    );
    let out = run_ok(&mut std::process::Command::new(
        prefix.join("bin/tools-where"),
    ));
    assert_eq!(out.trim(), prefix.display().to_string());
    // History: one revision with the requested specs, in conda's format.
    let history = std::fs::read_to_string(prefix.join("conda-meta/history")).unwrap();
    assert!(history.starts_with("==> "), "{history}");
    assert!(
        history.contains("# update specs: ['appa', 'tools']"),
        "{history}"
    );
    assert!(history.contains("/linux-64::libb-1.0-h0_0\n"), "{history}");
    // A spec with a version range is written the way conda's str(MatchSpec) writes it.
    env.ok("install", &prefix, &["newer-glibc>=1.0"]);
    let history = std::fs::read_to_string(prefix.join("conda-meta/history")).unwrap();
    assert!(
        history.ends_with("# update specs: [\"newer-glibc[version='>=1.0']\"]\n"),
        "{history}"
    );
    assert_eq!(
        record(&prefix, "newer-glibc")["requested_spec"],
        "newer-glibc[version='>=1.0']"
    );
}

#[test]
fn install_keeps_installed_versions_and_update_moves_them() {
    let env = Env::new();
    let prefix = env.prefix("stable");
    env.ok("create", &prefix, &["libc-lite=1.0"]);
    // libb accepts any libc-lite: the installed 1.0 stays although 2.0 exists.
    env.ok("install", &prefix, &["libb"]);
    assert_eq!(installed(&prefix)["libc-lite"], "1.0-h0_0");
    // The requested spec libc-lite=1.0 still holds it back; installing a new spec moves it.
    env.ok("install", &prefix, &["libc-lite>=2"]);
    assert_eq!(installed(&prefix)["libc-lite"], "2.0-h0_0");
    let json: Value =
        serde_json::from_str(&env.ok("install", &prefix, &["libc-lite=1", "--json"])).unwrap();
    assert_eq!(json["success"], true);
    assert_eq!(json["actions"]["UNLINK"][0]["version"], "2.0");
    assert_eq!(json["actions"]["LINK"][0]["version"], "1.0");
    assert_eq!(json["actions"]["LINK"][0]["fn"], "libc-lite-1.0-h0_0.conda");
    // Nothing to do.
    let out = env.ok("install", &prefix, &["libb"]);
    assert!(
        out.contains("All requested packages already installed"),
        "{out}"
    );
}

#[test]
fn remove_takes_dependents_and_revision_rolls_back() {
    let env = Env::new();
    let prefix = env.prefix("rev");
    env.ok("create", &prefix, &["appa"]);
    env.ok("install", &prefix, &["tools"]);
    let after_rev1 = tree(&prefix);
    env.ok("remove", &prefix, &["libb"]);
    let left = installed(&prefix);
    assert!(
        !left.contains_key("libb") && !left.contains_key("appa"),
        "{left:?}"
    );
    assert!(left.contains_key("tools"));
    assert!(!prefix.join("share/appa/README").exists());
    let history = std::fs::read_to_string(prefix.join("conda-meta/history")).unwrap();
    assert!(
        history.contains("# remove specs: ['appa', 'libb']"),
        "{history}"
    );
    // Back to revision 1: appa and libb return, files and all.
    env.ok("install", &prefix, &["--revision", "1"]);
    assert_eq!(installed(&prefix).len(), 4);
    let restored = tree(&prefix);
    for (path, content) in &after_rev1 {
        if path.starts_with("conda-meta/") {
            continue;
        }
        assert_eq!(restored.get(path), Some(content), "{path}");
    }
    let err = env.err("install", &prefix, &["--revision", "9"]);
    assert!(err.contains("revision 9 does not exist"), "{err}");
    // remove --all removes the environment.
    env.ok("remove", &prefix, &["--all"]);
    assert!(!prefix.exists());
}

#[test]
fn pinned_specs_hold_every_solve() {
    let env = Env::new();
    let prefix = env.prefix("pinned");
    env.ok("create", &prefix, &["libc-lite=1.0"]);
    std::fs::write(
        prefix.join("conda-meta/pinned"),
        "# keep the old C library\nlibc-lite 1.*\n",
    )
    .unwrap();
    env.ok("update", &prefix, &["--all"]);
    assert_eq!(installed(&prefix)["libc-lite"], "1.0-h0_0");
    let err = env.err("install", &prefix, &["libc-lite>=2"]);
    assert!(
        err.contains("cannot be satisfied") && err.contains("libc-lite"),
        "{err}"
    );
    std::fs::write(prefix.join("conda-meta/pinned"), "libc-lite >=>=1\n").unwrap();
    let err = env.err("install", &prefix, &["libb"]);
    assert!(
        err.contains("pinned:1") && err.contains("libc-lite >=>=1"),
        "{err}"
    );
}

#[test]
fn a_failing_post_link_script_rolls_the_prefix_back() {
    let env = Env::new();
    let prefix = env.prefix("rollback");
    env.ok("create", &prefix, &["appa", "libc-lite=1"]);
    let before = tree(&prefix);
    // Changing libc-lite and adding tools and breaks: breaks' post-link script fails.
    let err = env.err("install", &prefix, &["breaks", "tools", "libc-lite=2"]);
    assert!(
        err.contains("rolled back") && err.contains("breaks"),
        "{err}"
    );
    assert_unchanged(&before, &prefix);
    // A create that fails leaves nothing behind.
    let fresh = env.prefix("never");
    let err = env.err("create", &fresh, &["breaks"]);
    assert!(err.contains("rolled back"), "{err}");
    assert!(!fresh.exists());
}

/// Fails naming every file that differs between `before` and the prefix now.
fn assert_unchanged(before: &BTreeMap<String, Vec<u8>>, prefix: &Path) {
    let after = tree(prefix);
    let changed: Vec<_> = before
        .keys()
        .chain(after.keys())
        .filter(|k| before.get(*k) != after.get(*k))
        .collect();
    assert!(
        changed.is_empty(),
        "changed by a rolled-back install: {changed:?}"
    );
}

#[test]
fn ctrl_c_during_an_install_rolls_the_prefix_back() {
    let env = Env::new();
    let prefix = env.prefix("interrupted");
    env.ok("create", &prefix, &["appa", "libc-lite=1"]);
    let before = tree(&prefix);
    let started = env.home.path().join("slow-post-link-started");
    let child = env
        .cmd("install", &prefix, &["slow", "tools", "libc-lite=2"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while !started.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the post-link script never ran"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // Files are linked and the post-link script is running: interrupt as Ctrl-C in a
    // terminal does, krait and its script together.
    let sent = std::process::Command::new("kill")
        .args(["-INT", "--", &format!("-{}", child.id())])
        .status()
        .unwrap();
    assert!(sent.success());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("interrupted") && err.contains("rolled back"),
        "{err}"
    );
    assert_unchanged(&before, &prefix);
}

#[test]
fn concurrent_installs_into_one_prefix_are_serialised() {
    let env = Env::new();
    let prefix = env.prefix("busy");
    env.ok("create", &prefix, &["libc-lite"]);
    let a = env.cmd("install", &prefix, &["appa"]).spawn().unwrap();
    let b = env.cmd("install", &prefix, &["tools"]).spawn().unwrap();
    assert!(a.wait_with_output().unwrap().status.success());
    assert!(b.wait_with_output().unwrap().status.success());
    let now = installed(&prefix);
    assert!(
        now.contains_key("appa") && now.contains_key("tools"),
        "{now:?}"
    );
    let history = std::fs::read_to_string(prefix.join("conda-meta/history")).unwrap();
    assert_eq!(history.matches("==> ").count(), 3, "{history}");
}

#[test]
fn dry_run_changes_nothing_and_json_has_conda_actions() {
    let env = Env::new();
    let prefix = env.prefix("dry");
    let out = env.ok("create", &prefix, &["appa", "--dry-run", "--json"]);
    assert!(!prefix.exists());
    let json: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json["dry_run"], true);
    let names: Vec<&str> = json["actions"]["LINK"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 3, "{names:?}");
    assert!(names.contains(&"libb"));
}

#[test]
fn named_environments_live_in_envs_dirs() {
    let env = Env::new();
    let mut cmd = krait(env.home.path());
    cmd.args(["create", "-n", "named", "--override-channels", "-y", "-c"])
        .arg(&env.channel)
        .arg("libb");
    run_ok(&mut cmd);
    let prefix = env.home.path().join("envs/named");
    assert!(installed(&prefix).contains_key("libb"));
    let err = run_err(krait(env.home.path()).args(["install", "-n", "nope", "libb"]));
    assert!(err.contains("environment \"nope\" does not exist"), "{err}");
}

#[test]
fn virtual_packages_are_detected_and_overridable() {
    let env = Env::new();
    let prefix = env.prefix("virtual");
    let err = run_err(
        env.cmd("create", &prefix, &["newer-glibc"])
            .env("CONDA_OVERRIDE_GLIBC", "2.5"),
    );
    assert!(err.contains("__glibc"), "{err}");
    run_ok(
        env.cmd("create", &prefix, &["newer-glibc"])
            .env("CONDA_OVERRIDE_GLIBC", "2.28"),
    );
}

#[test]
fn bad_input_is_refused_with_nothing_half_done() {
    let env = Env::new();
    let prefix = env.prefix("bad");
    let err = env.err("create", &prefix, &["no-such-package"]);
    assert!(err.contains("no-such-package"), "{err}");
    assert!(!prefix.exists());
    let err = env.err("create", &prefix, &["appa", "oldie"]);
    assert!(
        err.contains("cannot be satisfied") && err.contains("oldie"),
        "{err}"
    );
    let err = env.err("create", &prefix, &["appa >=>= 1"]);
    assert!(err.contains("invalid MatchSpec \"appa >=>= 1\""), "{err}");
    env.ok("create", &prefix, &["libb"]);
    let err = env.err("install", &prefix, &[]);
    assert!(err.contains("needs at least one package spec"), "{err}");
    let err = env.err("remove", &prefix, &["appa"]);
    assert!(err.contains("\"appa\" is not installed"), "{err}");
    let yml = env.home.path().join("environment.yml");
    std::fs::write(&yml, "name: x\ndependencies:\n  - libb\n  - [oops\n").unwrap();
    let err = env.err(
        "create",
        &env.prefix("yml"),
        &["--file", yml.to_str().unwrap()],
    );
    assert!(
        err.contains("environment.yml") && err.contains("line 4"),
        "{err}"
    );
    let list = env.home.path().join("specs.txt");
    std::fs::write(&list, "libb\n\nappa ==>\n").unwrap();
    let err = env.err(
        "create",
        &env.prefix("list"),
        &["--file", list.to_str().unwrap()],
    );
    assert!(
        err.contains("specs.txt:3") && err.contains("appa ==>"),
        "{err}"
    );
}

#[test]
fn a_tampered_archive_is_never_linked() {
    let env = Env::new();
    // Replace an indexed archive by another package's bytes: its sha256 no longer matches.
    let target = env.channel.join("linux-64/libb-1.0-h0_0.conda");
    std::fs::copy(env.channel.join("linux-64/appa-1.0-h0_0.conda"), &target).unwrap();
    let prefix = env.prefix("tampered");
    let err = env.err("create", &prefix, &["libb"]);
    assert!(
        err.contains("hash mismatch") && err.contains("libb-1.0-h0_0.conda"),
        "{err}"
    );
    assert!(!prefix.join("share/appa/README").exists());
    assert!(!prefix.exists() || installed(&prefix).is_empty());
}

#[test]
fn archives_escaping_the_prefix_are_refused() {
    let env = Env::new();
    let outside = env.home.path().join("outside-target");
    std::fs::write(&outside, "do not touch").unwrap();
    let evil = Package::new("evil-link", "1.0", "h0_0", "linux-64")
        .symlink("lib/escape", outside.to_str().unwrap());
    evil.write(&env.channel, Format::Conda);
    run_ok(krait(env.home.path()).arg("index").arg(&env.channel));
    let prefix = env.prefix("evil");
    let err = env.err("create", &prefix, &["evil-link"]);
    assert!(err.contains("evil-link") || err.contains("escape"), "{err}");
    assert!(!prefix.join("lib/escape").exists());
    assert_eq!(std::fs::read_to_string(&outside).unwrap(), "do not touch");
}

#[test]
fn noarch_python_runs_on_the_environments_own_interpreter() {
    let env = Env::new();
    let python_channel = common::python::python_channel();
    let (version, _) = common::python::host_python();
    let minor: String = version.split('.').take(2).collect::<Vec<_>>().join(".");
    let prefix = env.prefix("py");
    run_ok(
        env.cmd("create", &prefix, &[&format!("python={minor}"), "hello-py"])
            .arg("-c")
            .arg(&python_channel),
    );
    let out = run_ok(std::process::Command::new(prefix.join("bin/python")).args(["-c", "import sys, os; print(sys.prefix); print(sys.version.split()[0]); import json, hello_py; print(hello_py.__file__)"]));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], prefix.display().to_string());
    assert_eq!(lines[1], version);
    assert_eq!(
        lines[2],
        prefix
            .join(format!(
                "lib/python{minor}/site-packages/hello_py/__init__.py"
            ))
            .display()
            .to_string()
    );
    // The entry point runs with the environment's interpreter.
    let out = run_ok(&mut std::process::Command::new(prefix.join("bin/hello-py")));
    assert_eq!(out.trim(), format!("hello from {}", prefix.display()));
    let shebang = std::fs::read_to_string(prefix.join("bin/hello-py")).unwrap();
    assert!(
        shebang.starts_with(&format!("#!{}/bin/python", prefix.display())),
        "{shebang}"
    );
    // Byte-compiled and recorded, so that removal takes the .pyc too.
    let rec = record(&prefix, "hello-py");
    let pyc: Vec<&str> = rec["files"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f.as_str())
        .filter(|f| f.ends_with(".pyc"))
        .collect();
    assert_eq!(pyc.len(), 1, "{pyc:?}");
    assert!(prefix.join(pyc[0]).is_file());
    let pyc_path = prefix.join(pyc[0]);
    env.ok("remove", &prefix, &["hello-py"]);
    assert!(!pyc_path.exists());
}

#[test]
fn a_second_environment_shares_the_cache_through_hard_links() {
    use std::os::unix::fs::MetadataExt;
    let env = Env::new();
    let one = env.prefix("first");
    let two = env.prefix("second");
    env.ok("create", &one, &["appa"]);
    env.ok("create", &two, &["appa"]);
    let a = std::fs::metadata(one.join("share/appa/README")).unwrap();
    let b = std::fs::metadata(two.join("share/appa/README")).unwrap();
    assert_eq!(a.ino(), b.ino());
    assert!(a.nlink() >= 3);
    let copied = env.prefix("copied");
    env.ok("create", &copied, &["appa", "--copy"]);
    assert_eq!(
        std::fs::metadata(copied.join("share/appa/README"))
            .unwrap()
            .nlink(),
        1
    );
    let _ = run(&mut std::process::Command::new("true"));
}

#[test]
fn a_damaged_cache_entry_is_extracted_again_not_linked() {
    let env = Env::new();
    let first = env.prefix("first");
    env.ok("create", &first, &["libb", "--copy"]);
    let cached = env.home.path().join("pkgs/libb-1.0-h0_0/share/libb/README");
    assert_eq!(std::fs::read_to_string(&cached).unwrap(), "libb 1.0\n");
    std::fs::write(&cached, "libb 6.6\n").unwrap();
    let second = env.prefix("second");
    env.ok("create", &second, &["libb"]);
    assert_eq!(
        std::fs::read_to_string(second.join("share/libb/README")).unwrap(),
        "libb 1.0\n"
    );
}

/// Writes a `.tar.bz2` whose payload entry and `paths.json` use `evil_path` verbatim (the tar
/// crate refuses to build such names, so the header bytes are written directly).
fn write_hostile_archive(channel: &Path, name: &str, evil_path: &str) {
    let index = Package::new(name, "1.0", "h0_0", "linux-64").index_json();
    let paths = serde_json::json!({"paths": [{"_path": evil_path, "path_type": "hardlink", "size_in_bytes": 5}], "paths_version": 1});
    let out = channel
        .join("linux-64")
        .join(format!("{name}-1.0-h0_0.tar.bz2"));
    let file = std::fs::File::create(out).unwrap();
    let mut tar = tar::Builder::new(bzip2::write::BzEncoder::new(
        file,
        bzip2::Compression::default(),
    ));
    let mut append = |raw_name: &str, data: &[u8]| {
        let mut header = tar::Header::new_gnu();
        let field = &mut header.as_gnu_mut().unwrap().name;
        field[..raw_name.len()].copy_from_slice(raw_name.as_bytes());
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::Regular);
        header.set_cksum();
        tar.append(&header, data).unwrap();
    };
    append("info/index.json", index.to_string().as_bytes());
    append("info/paths.json", paths.to_string().as_bytes());
    append(evil_path, b"evil\n");
    tar.into_inner().unwrap().finish().unwrap();
}

#[test]
fn archive_paths_outside_the_prefix_are_refused() {
    let env = Env::new();
    let target = env.home.path().join("escaped.txt");
    write_hostile_archive(&env.channel, "dotdot", "../escaped.txt");
    write_hostile_archive(&env.channel, "absolute", target.to_str().unwrap());
    run_ok(krait(env.home.path()).arg("index").arg(&env.channel));
    for name in ["dotdot", "absolute"] {
        let prefix = env.prefix(name);
        let err = env.err("create", &prefix, &[name]);
        assert!(
            err.contains(&format!("{name}-1.0-h0_0.tar.bz2: refusing the path"))
                && err.contains("outside the prefix"),
            "{err}"
        );
        assert!(
            !prefix.exists(),
            "{name}: the failed create left {}",
            prefix.display()
        );
        assert!(!target.exists(), "{name} wrote outside the prefix");
    }
}

#[test]
fn channel_priority_strict_flexible_and_disabled_mean_what_they_mean_in_conda() {
    let home = tempfile::tempdir().unwrap();
    let high = home.path().join("high");
    let low = home.path().join("low");
    Package::new("foo", "1.0", "h0_0", "linux-64").write(&high, Format::Conda);
    Package::new("foo", "2.0", "h0_0", "linux-64").write(&low, Format::Conda);
    Package::new("needs-new-foo", "1.0", "h0_0", "linux-64")
        .depends(&["foo >=2"])
        .write(&low, Format::Conda);
    for channel in [&high, &low] {
        run_ok(krait(home.path()).arg("index").arg(channel));
    }
    let solve = |priority: &str, spec: &str| {
        let prefix = home.path().join(format!("{priority}-{spec}"));
        let mut cmd = krait(home.path());
        cmd.args(["create", "-y", "--override-channels", "-c"])
            .arg(&high)
            .arg("-c")
            .arg(&low)
            .arg("-p")
            .arg(&prefix)
            .arg(spec)
            .env("KRAIT_CHANNEL_PRIORITY", priority);
        let out = run(&mut cmd);
        out.status
            .success()
            .then(|| installed(&prefix)["foo"].clone())
    };
    // The higher-priority channel wins over a higher version, except under `disabled`.
    assert_eq!(solve("strict", "foo").as_deref(), Some("1.0-h0_0"));
    assert_eq!(solve("flexible", "foo").as_deref(), Some("1.0-h0_0"));
    assert_eq!(solve("disabled", "foo").as_deref(), Some("2.0-h0_0"));
    // Only `strict` refuses to take foo from the lower channel when nothing else works.
    assert_eq!(solve("strict", "needs-new-foo"), None);
    assert_eq!(
        solve("flexible", "needs-new-foo").as_deref(),
        Some("2.0-h0_0")
    );
    assert_eq!(
        solve("disabled", "needs-new-foo").as_deref(),
        Some("2.0-h0_0")
    );
}
