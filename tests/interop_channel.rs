//! Interop with py-rattler, both ways: it solves against a channel krait indexed, and krait
//! searches a channel py-rattler indexed. Needs the venv of `scripts/test`.

mod common;

use common::fixtures::{Format, Package};
use common::{krait, peer_script, run_ok};
use serde_json::Value;
use std::path::Path;

fn fixture_channel(root: &Path) {
    Package::new("libfoo", "1.0", "h0_0", "linux-64").write(root, Format::Conda);
    Package::new("libfoo", "1.5", "h0_0", "linux-64").write(root, Format::TarBz2);
    Package::new("libfoo", "2.0", "h0_0", "linux-64").write(root, Format::Conda);
    Package::new("bar", "2.0", "0", "noarch")
        .depends(&["libfoo >=1,<2"])
        .write(root, Format::TarBz2);
    Package::new("baz", "0.1", "h0_0", "linux-64")
        .depends(&["bar", "libfoo"])
        .write(root, Format::Conda);
}

#[test]
fn py_rattler_solves_against_a_channel_krait_indexed() {
    let tmp = tempfile::tempdir().unwrap();
    let channel = tmp.path().join("channel");
    fixture_channel(&channel);
    run_ok(krait(tmp.path()).arg("index").arg(&channel));
    let url = url::Url::from_directory_path(&channel).unwrap();
    let out = run_ok(peer_script("solve.py").args([
        tmp.path().join("rattler-cache").to_str().unwrap(),
        "linux-64",
        url.as_str(),
        "baz",
    ]));
    let solved: Vec<String> = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(
        solved,
        [
            "bar-2.0-0.tar.bz2",
            "baz-0.1-h0_0.conda",
            "libfoo-1.5-h0_0.tar.bz2"
        ]
    );
}

#[test]
fn krait_searches_a_channel_py_rattler_indexed() {
    let tmp = tempfile::tempdir().unwrap();
    let channel = tmp.path().join("channel");
    fixture_channel(&channel);
    run_ok(peer_script("index.py").arg(&channel).arg("--zst"));
    assert!(channel.join("linux-64/repodata.json").is_file());
    let out = run_ok(krait(tmp.path()).args([
        "search",
        "--override-channels",
        "-c",
        channel.to_str().unwrap(),
        "libfoo>=1.5",
        "--platform",
        "linux-64",
        "--json",
    ]));
    let value: Value = serde_json::from_str(&out).unwrap();
    let files: Vec<&str> = value["libfoo"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["fn"].as_str().unwrap())
        .collect();
    assert_eq!(files, ["libfoo-1.5-h0_0.tar.bz2", "libfoo-2.0-h0_0.conda"]);
    // Records py-rattler wrote and records krait writes for the same archives agree.
    let theirs: Value = serde_json::from_str(
        &std::fs::read_to_string(channel.join("linux-64/repodata.json")).unwrap(),
    )
    .unwrap();
    let ours_dir = tmp.path().join("ours");
    common::copy_dir(&channel, &ours_dir);
    for sub in ["linux-64", "noarch"] {
        for f in ["repodata.json", "repodata.json.zst"] {
            let _ = std::fs::remove_file(ours_dir.join(sub).join(f));
        }
    }
    run_ok(krait(tmp.path()).arg("index").arg(&ours_dir));
    let ours: Value = serde_json::from_str(
        &std::fs::read_to_string(ours_dir.join("linux-64/repodata.json")).unwrap(),
    )
    .unwrap();
    for key in ["packages", "packages.conda"] {
        for (file, record) in theirs[key].as_object().unwrap() {
            for field in [
                "name",
                "version",
                "build",
                "build_number",
                "depends",
                "sha256",
                "md5",
                "size",
                "subdir",
                "timestamp",
            ] {
                assert_eq!(ours[key][file][field], record[field], "{file} {field}");
            }
        }
    }
}
