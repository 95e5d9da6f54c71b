//! `krait index`, `krait search` and `krait config` end to end, over real archives and channels
//! on disk, behind file:// URLs and behind an HTTP server on 127.0.0.1.

mod common;

use common::fixtures::{Format, Package};
use common::{krait, run_err, run_ok, sha256_hex, HttpServer};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// A channel with a few packages in both formats and two subdirs.
fn sample_channel(dir: &Path) -> PathBuf {
    let channel = dir.join("channel");
    Package::new("libfoo", "1.0", "h0_0", "linux-64").write(&channel, Format::Conda);
    Package::new("libfoo", "1.2", "h0_0", "linux-64").write(&channel, Format::TarBz2);
    Package::new("libfoo", "1.2", "h1_1", "linux-64").write(&channel, Format::Conda);
    Package::new("libfoo", "2.0", "h0_0", "osx-arm64").write(&channel, Format::Conda);
    Package::new("pyfoo", "0.3", "py_0", "noarch")
        .depends(&["libfoo >=1.2", "python >=3.8"])
        .constrains(&["pybar <2"])
        .write(&channel, Format::TarBz2);
    Package::new("numpy", "1.26.4", "py311h0_0", "linux-64")
        .depends(&["libfoo"])
        .write(&channel, Format::Conda);
    Package::new("numpy", "1.26.4", "py312h0_0", "linux-64").write(&channel, Format::Conda);
    Package::new("numpy", "2.1.0", "py311h0_0", "linux-64").write(&channel, Format::Conda);
    channel
}

fn repodata(channel: &Path, subdir: &str) -> Value {
    let text = std::fs::read_to_string(channel.join(subdir).join("repodata.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn index_writes_repodata_for_every_subdir_from_both_formats() {
    let tmp = tempfile::tempdir().unwrap();
    let channel = sample_channel(tmp.path());
    run_ok(krait(tmp.path()).arg("index").arg(&channel));

    let linux = repodata(&channel, "linux-64");
    assert_eq!(linux["info"]["subdir"], "linux-64");
    let conda = linux["packages.conda"].as_object().unwrap();
    let bz2 = linux["packages"].as_object().unwrap();
    assert_eq!(conda.len(), 5);
    assert_eq!(bz2.len(), 1);
    let rec = &bz2["libfoo-1.2-h0_0.tar.bz2"];
    assert_eq!(rec["name"], "libfoo");
    assert_eq!(rec["version"], "1.2");
    let archive = channel.join("linux-64/libfoo-1.2-h0_0.tar.bz2");
    assert_eq!(rec["sha256"], sha256_hex(&std::fs::read(&archive).unwrap()));
    assert_eq!(rec["size"], std::fs::metadata(&archive).unwrap().len());
    assert_eq!(
        repodata(&channel, "osx-arm64")["packages.conda"]
            .as_object()
            .unwrap()
            .len(),
        1
    );
    let noarch = repodata(&channel, "noarch");
    assert_eq!(
        noarch["packages"]["pyfoo-0.3-py_0.tar.bz2"]["depends"],
        serde_json::json!(["libfoo >=1.2", "python >=3.8"])
    );
    // The compressed variant holds the same document.
    let zst = std::fs::read(channel.join("linux-64/repodata.json.zst")).unwrap();
    let decoded: Value = serde_json::from_slice(&zstd::decode_all(&zst[..]).unwrap()).unwrap();
    assert_eq!(decoded, linux);
}

#[test]
fn index_rereads_only_new_or_changed_archives() {
    let tmp = tempfile::tempdir().unwrap();
    let channel = sample_channel(tmp.path());
    let report = |extra: &[&str]| -> Value {
        let out = run_ok(
            krait(tmp.path())
                .arg("index")
                .arg(&channel)
                .arg("--json")
                .args(extra),
        );
        let reports: Vec<Value> = serde_json::from_str(&out).unwrap();
        reports
            .into_iter()
            .find(|r| r["subdir"] == "linux-64")
            .unwrap()
    };
    assert_eq!(report(&[])["read"], 6);
    let again = report(&[]);
    assert_eq!(
        (again["read"].as_u64(), again["reused"].as_u64()),
        (Some(0), Some(6))
    );

    // Replace one archive with different content, add one, remove one.
    let mut changed = Package::new("numpy", "2.1.0", "py311h0_0", "linux-64");
    changed
        .files
        .push(("share/numpy/extra".into(), b"more".to_vec()));
    let path = changed.write(&channel, Format::Conda);
    Package::new("scipy", "1.0", "h0_0", "linux-64").write(&channel, Format::TarBz2);
    std::fs::remove_file(channel.join("linux-64/libfoo-1.0-h0_0.conda")).unwrap();
    let third = report(&[]);
    assert_eq!(
        (third["read"].as_u64(), third["packages"].as_u64()),
        (Some(2), Some(6))
    );
    let linux = repodata(&channel, "linux-64");
    assert_eq!(
        linux["packages.conda"]["numpy-2.1.0-py311h0_0.conda"]["sha256"],
        sha256_hex(&std::fs::read(&path).unwrap())
    );
    assert!(linux["packages.conda"]
        .get("libfoo-1.0-h0_0.conda")
        .is_none());
    assert!(linux["packages"].get("scipy-1.0-h0_0.tar.bz2").is_some());
    assert_eq!(report(&["--force"])["read"], 6);
}

#[test]
fn index_reports_bad_archives_and_keeps_them_out() {
    let tmp = tempfile::tempdir().unwrap();
    let channel = sample_channel(tmp.path());
    let linux = channel.join("linux-64");
    std::fs::write(linux.join("garbage-1.0-0.conda"), b"this is not a zip").unwrap();
    let good = std::fs::read(linux.join("libfoo-1.2-h0_0.tar.bz2")).unwrap();
    std::fs::write(
        linux.join("truncated-1.0-0.tar.bz2"),
        &good[..good.len() / 2],
    )
    .unwrap();
    // A valid archive under a name that disagrees with its index.json.
    std::fs::copy(
        linux.join("libfoo-1.2-h1_1.conda"),
        linux.join("libbar-1.2-h1_1.conda"),
    )
    .unwrap();
    // A valid archive in the wrong subdir.
    std::fs::copy(
        linux.join("libfoo-1.2-h1_1.conda"),
        channel.join("noarch/libfoo-1.2-h1_1.conda"),
    )
    .unwrap();

    let stderr = run_err(krait(tmp.path()).arg("index").arg(&channel));
    for name in [
        "garbage-1.0-0.conda",
        "truncated-1.0-0.tar.bz2",
        "libbar-1.2-h1_1.conda",
    ] {
        let line = stderr
            .lines()
            .find(|l| l.contains(name))
            .unwrap_or_else(|| panic!("{name} not reported"));
        assert!(
            line.contains(&linux.join(name).display().to_string()),
            "{line}"
        );
    }
    assert!(
        stderr.contains("file name says libbar-1.2-h1_1"),
        "{stderr}"
    );
    assert!(
        stderr.contains("has subdir \"linux-64\" but the archive is in noarch/"),
        "{stderr}"
    );
    let written = repodata(&channel, "linux-64");
    assert_eq!(written["packages.conda"].as_object().unwrap().len(), 5);
    assert!(written["packages"].get("truncated-1.0-0.tar.bz2").is_none());
    assert!(written["packages.conda"]
        .get("garbage-1.0-0.conda")
        .is_none());
}

/// Runs `krait search` over one channel and returns stdout.
fn search(home: &Path, channel: &str, args: &[&str]) -> String {
    run_ok(
        krait(home)
            .args(["search", "--override-channels", "-c", channel])
            .args(args),
    )
}

/// The `name version build` triples of a `--json` search, in output order.
fn search_json(home: &Path, channel: &str, args: &[&str]) -> Vec<String> {
    let out = search(home, channel, &[args, &["--json"]].concat());
    let value: Value = serde_json::from_str(&out).unwrap();
    value
        .as_object()
        .unwrap()
        .values()
        .flat_map(|list| list.as_array().unwrap().iter())
        .map(|r| {
            format!(
                "{} {} {}",
                r["name"].as_str().unwrap(),
                r["version"].as_str().unwrap(),
                r["build"].as_str().unwrap()
            )
        })
        .collect()
}

fn check_search_semantics(home: &Path, channel: &str) {
    let linux = ["--platform", "linux-64"];
    assert_eq!(
        search_json(home, channel, &[&["numpy>=1.26,<2"], &linux[..]].concat()),
        ["numpy 1.26.4 py311h0_0", "numpy 1.26.4 py312h0_0"]
    );
    assert_eq!(
        search_json(
            home,
            channel,
            &[&["numpy 1.26.* py312*"], &linux[..]].concat()
        ),
        ["numpy 1.26.4 py312h0_0"]
    );
    assert_eq!(
        search_json(home, channel, &[&["numpy=2.1"], &linux[..]].concat()),
        ["numpy 2.1.0 py311h0_0"]
    );
    // Name globs; noarch records are searched along with the platform's.
    assert_eq!(
        search_json(home, channel, &[&["*foo"], &linux[..]].concat()),
        [
            "libfoo 1.0 h0_0",
            "libfoo 1.2 h0_0",
            "libfoo 1.2 h1_1",
            "pyfoo 0.3 py_0"
        ]
    );
    // Another subdir than the host's.
    assert_eq!(
        search_json(home, channel, &["libfoo", "--platform", "osx-arm64"]),
        ["libfoo 2.0 h0_0"]
    );
    // An exact name that matches nothing is widened to *name*, unless --full-name.
    assert_eq!(
        search_json(home, channel, &[&["foo"], &linux[..]].concat()).len(),
        4
    );
    let out = run_err(
        krait(home)
            .args([
                "search",
                "--override-channels",
                "-c",
                channel,
                "--full-name",
                "foo",
            ])
            .args(linux),
    );
    assert!(
        out.contains("PackagesNotFoundError") && out.contains("  - foo"),
        "{out}"
    );
    // The table is sorted as conda sorts and names the channel.
    let table = search(home, channel, &[&["libfoo", "--spec"], &linux[..]].concat());
    let rows: Vec<&str> = table.lines().skip(1).collect();
    assert_eq!(rows.len(), 3, "{table}");
    assert!(
        rows[0].contains("1.0") && rows[2].contains("h1_1"),
        "{table}"
    );
    assert!(table.starts_with("# Name"), "{table}");
    // --info shows the details.
    let info = search(home, channel, &[&["pyfoo", "--info"], &linux[..]].concat());
    for expected in [
        "file name   : pyfoo-0.3-py_0.tar.bz2",
        "license     : MIT",
        "  - libfoo >=1.2",
        "constraints:",
        "  - pybar <2",
        "sha256      : ",
        "timestamp   : 2023-11-14",
        "url         : ",
    ] {
        assert!(info.contains(expected), "missing {expected:?} in\n{info}");
    }
}

#[test]
fn search_local_path_file_url_and_http_alike() {
    let tmp = tempfile::tempdir().unwrap();
    let channel = sample_channel(tmp.path());
    run_ok(krait(tmp.path()).arg("index").arg(&channel));
    check_search_semantics(tmp.path(), channel.to_str().unwrap());
    let url = url::Url::from_directory_path(&channel).unwrap();
    check_search_semantics(tmp.path(), url.as_str());
    let server = HttpServer::serve(&channel);
    check_search_semantics(tmp.path(), &server.url);
    // A relative path works from the channel's parent.
    let out = run_ok(krait(tmp.path()).current_dir(tmp.path()).args([
        "search",
        "--override-channels",
        "-c",
        "channel",
        "numpy",
        "--platform",
        "linux-64",
    ]));
    assert_eq!(out.lines().count(), 4, "{out}");
}

#[test]
fn search_honours_channel_in_spec_and_configured_names() {
    let tmp = tempfile::tempdir().unwrap();
    let channels = tmp.path().join("channels");
    let one = sample_channel(&channels.join("one"));
    let two = channels.join("two");
    Package::new("numpy", "3.0", "h0_0", "linux-64").write(&two, Format::Conda);
    run_ok(krait(tmp.path()).arg("index").arg(&one));
    run_ok(krait(tmp.path()).arg("index").arg(&two));
    let server = HttpServer::serve(&channels);
    // The alias makes `one` and `two` names of channels on the loopback server.
    let condarc = tmp.path().join("condarc");
    std::fs::write(
        &condarc,
        format!(
            "channel_alias: {}/one\ncustom_channels:\n  two: {}\nchannels: [channel]\n",
            server.url, server.url
        ),
    )
    .unwrap();
    let out = run_ok(krait(tmp.path()).env("CONDARC", &condarc).args([
        "search",
        "two::numpy",
        "--platform",
        "linux-64",
        "--json",
    ]));
    let value: Value = serde_json::from_str(&out).unwrap();
    let versions: Vec<_> = value["numpy"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["version"].clone())
        .collect();
    assert_eq!(versions, ["3.0"]);
    // `channel` resolves through channel_alias to <server>/one/channel.
    let out = run_ok(krait(tmp.path()).env("CONDARC", &condarc).args([
        "search",
        "numpy",
        "--platform",
        "linux-64",
        "--json",
    ]));
    let value: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(value["numpy"].as_array().unwrap().len(), 3);
    assert!(value["numpy"][0]["url"]
        .as_str()
        .unwrap()
        .starts_with(&format!("{}/one/channel/linux-64/", server.url)));
}

fn data_channel(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/repodata")
        .join(name)
        .display()
        .to_string()
}

#[test]
fn search_real_pytorch_and_r_repodata() {
    let tmp = tempfile::tempdir().unwrap();
    let pytorch = data_channel("pytorch");
    let raw: Value = serde_json::from_str(
        &std::fs::read_to_string(Path::new(&pytorch).join("linux-64/repodata.json")).unwrap(),
    )
    .unwrap();
    // What the records say: every pytorch 1.13.x record, by file name.
    let mut expected: Vec<String> = raw["packages"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, r)| {
            r["name"] == "pytorch" && r["version"].as_str().unwrap().starts_with("1.13.")
        })
        .map(|(f, _)| f.clone())
        .collect();
    expected.sort();
    assert!(expected.len() > 10);
    let out = search(
        tmp.path(),
        &pytorch,
        &["pytorch 1.13.*", "--platform", "linux-64", "--json"],
    );
    let value: Value = serde_json::from_str(&out).unwrap();
    let mut found: Vec<String> = value["pytorch"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["fn"].as_str().unwrap().to_string())
        .collect();
    found.sort();
    assert_eq!(found, expected);

    let r = data_channel("r");
    let raw: Value = serde_json::from_str(
        &std::fs::read_to_string(Path::new(&r).join("linux-64/repodata.json")).unwrap(),
    )
    .unwrap();
    let records = raw["packages"].as_object().unwrap();
    assert_eq!(records.len(), 4211);
    let count = |pred: &dyn Fn(&Value) -> bool| records.values().filter(|r| pred(r)).count();
    let glob = search_json(tmp.path(), &r, &["r-gg*", "--platform", "linux-64"]);
    assert_eq!(
        glob.len(),
        count(&|r| r["name"].as_str().unwrap().starts_with("r-gg"))
    );
    let base = search_json(tmp.path(), &r, &["r-base>=3.4", "--platform", "linux-64"]);
    let expected_base = count(&|r| {
        r["name"] == "r-base" && {
            let v: Vec<u32> = r["version"]
                .as_str()
                .unwrap()
                .split('.')
                .filter_map(|p| p.parse().ok())
                .collect();
            v >= vec![3, 4]
        }
    });
    assert_eq!(base.len(), expected_base);
    assert!(expected_base > 0);
}

#[test]
fn bad_input_gets_one_clear_error_and_a_nonzero_exit() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path();
    let search = |channel: &str, spec: &str, extra: &[&str]| {
        run_err(
            krait(home)
                .args(["search", "--override-channels", "-c", channel, spec])
                .args(extra),
        )
    };
    let missing = home.join("no-such-channel");
    let err = search(missing.to_str().unwrap(), "numpy", &[]);
    assert!(
        err.contains("channel directory not found") && err.contains("no-such-channel"),
        "{err}"
    );

    // Nothing listens on port 9 of loopback.
    let err = search(
        "http://127.0.0.1:9/chan",
        "numpy",
        &["--platform", "linux-64"],
    );
    assert!(err.contains("http://127.0.0.1:9/chan"), "{err}");

    let bad = home.join("bad");
    std::fs::create_dir_all(bad.join("linux-64")).unwrap();
    std::fs::write(
        bad.join("linux-64/repodata.json"),
        b"{\"packages\": {\"x\": 1",
    )
    .unwrap();
    let err = search(bad.to_str().unwrap(), "numpy", &["--platform", "linux-64"]);
    assert!(err.contains("repodata"), "{err}");

    let good = sample_channel(home);
    run_ok(krait(home).arg("index").arg(&good));
    let err = search(good.to_str().unwrap(), "numpy >=>=1", &[]);
    assert!(err.contains("invalid MatchSpec \"numpy >=>=1\""), "{err}");
    let err = search(good.to_str().unwrap(), "numpy", &["--platform", "linux-65"]);
    assert!(err.contains("unknown subdir \"linux-65\""), "{err}");

    let err = run_err(krait(home).arg("index").arg(home.join("nope")));
    assert!(err.contains("channel directory not found"), "{err}");
}

#[test]
fn config_show_merges_files_and_environment_with_sources() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path();
    std::fs::write(
        home.join(".condarc"),
        "channels: [conda-forge]\nchannel_priority: strict\noffline: true\n",
    )
    .unwrap();
    let condarc = home.join("extra.yml");
    std::fs::write(
        &condarc,
        "channels: [bioconda]\ncustom_channels:\n  internal: https://pkgs.example.invalid/\n",
    )
    .unwrap();
    let out = run_ok(
        krait(home)
            .env("CONDARC", &condarc)
            .env("KRAIT_CHANNEL_ALIAS", "https://mirror.example.invalid")
            .args(["config", "--show", "--json"]),
    );
    let value: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        value["config"]["channels"],
        serde_json::json!(["bioconda", "conda-forge"])
    );
    assert_eq!(value["config"]["channel_priority"], "strict");
    assert_eq!(value["config"]["offline"], true);
    assert_eq!(
        value["config"]["channel_alias"],
        "https://mirror.example.invalid/"
    );
    assert_eq!(
        value["config"]["custom_channels"]["internal"],
        "https://pkgs.example.invalid/"
    );
    assert_eq!(value["sources"]["channel_alias"], "environment");
    assert_eq!(
        value["sources"]["channels"],
        format!("{}, {}", condarc.display(), home.join(".condarc").display())
    );
    assert_eq!(value["sources"]["envs_dirs"], "environment");
    assert_eq!(value["sources"]["default_channels"], "default");

    let text = run_ok(
        krait(home)
            .env("CONDARC", &condarc)
            .args(["config", "--show"]),
    );
    assert!(
        text.contains(&format!("channels: # from {}", condarc.display())),
        "{text}"
    );

    std::fs::write(&condarc, "channels: [a\n").unwrap();
    let err = run_err(
        krait(home)
            .env("CONDARC", &condarc)
            .args(["config", "--show"]),
    );
    assert!(
        err.contains(&condarc.display().to_string()) && err.contains("line"),
        "{err}"
    );
}

#[test]
fn config_edits_the_user_condarc_as_conda_config_does() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path();
    let config = |args: &[&str]| run_ok(krait(home).arg("config").args(args));
    config(&["--add", "channels", "conda-forge"]);
    config(&[
        "--add", "channels", "bioconda", "--append", "channels", "defaults",
    ]);
    config(&["--set", "channel_priority", "strict"]);
    config(&["--set", "proxy_servers.https", "http://proxy.invalid:3128"]);
    config(&["--set", "remote_max_retries", "5"]);
    let condarc = home.join(".condarc");
    assert!(condarc.is_file());

    let shown: Value = serde_json::from_str(&config(&["--show", "--json"])).unwrap();
    assert_eq!(
        shown["config"]["channels"],
        serde_json::json!(["bioconda", "conda-forge", "defaults"])
    );
    assert_eq!(shown["config"]["channel_priority"], "strict");
    assert_eq!(shown["config"]["remote_max_retries"], 5);
    assert_eq!(
        shown["config"]["proxy_servers"]["https"],
        "http://proxy.invalid:3128/"
    );
    assert_eq!(
        config(&["--get", "channels"]),
        "--add channels 'defaults'   # lowest priority\n\
         --add channels 'conda-forge'\n\
         --add channels 'bioconda'   # highest priority\n"
    );

    config(&[
        "--remove",
        "channels",
        "conda-forge",
        "--remove-key",
        "proxy_servers",
    ]);
    let shown: Value = serde_json::from_str(&config(&["--show", "--json"])).unwrap();
    assert_eq!(
        shown["config"]["channels"],
        serde_json::json!(["bioconda", "defaults"])
    );
    assert_eq!(shown["config"]["proxy_servers"], serde_json::json!({}));

    // Mistakes name the key and leave the file as it was.
    let before = std::fs::read_to_string(&condarc).unwrap();
    let err = run_err(krait(home).args(["config", "--set", "channel_priority", "often"]));
    assert!(
        err.contains("channel_priority") && err.contains("often"),
        "{err}"
    );
    let err = run_err(krait(home).args(["config", "--set", "chanels", "x"]));
    assert!(
        err.contains("unknown configuration key \"chanels\""),
        "{err}"
    );
    let err = run_err(krait(home).args(["config", "--remove", "channels", "nowhere"]));
    assert!(err.contains("\"nowhere\" is not in \"channels\""), "{err}");
    assert_eq!(std::fs::read_to_string(&condarc).unwrap(), before);

    // --file edits another file, which CONDARC then brings in.
    let other = home.join("team.condarc");
    run_ok(krait(home).args(["config", "--file"]).arg(&other).args([
        "--add",
        "pinned_packages",
        "python 3.11.*",
    ]));
    let shown: Value = serde_json::from_str(&run_ok(
        krait(home)
            .env("CONDARC", &other)
            .args(["config", "--show", "--json"]),
    ))
    .unwrap();
    assert_eq!(
        shown["config"]["pinned_packages"],
        serde_json::json!(["python 3.11.*"])
    );
}
