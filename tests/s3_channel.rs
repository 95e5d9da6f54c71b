//! Channels in S3 buckets, against moto's S3 server on loopback (started as imgpipe's fleet
//! tests start it): `krait index s3://...` (with shards and patch instructions), `krait upload
//! --to s3://...` with labels and `--remove`, `krait copy`, `krait build --upload-to s3://...`,
//! and reading them with `-c s3://...` (search, create, and py-rattler's solve) through
//! rattler's S3 middleware, with
//! credentials and endpoint from the AWS environment as any AWS client finds them.

mod common;
#[path = "../pipeline/tests/common/engines.rs"]
#[allow(dead_code)]
mod engines;

use common::fixtures::{Format, Package};
use common::serve::{found_versions, listed_files};
use common::{krait, peer_python, peer_script, run_err, run_ok};
use serde_json::Value;
use std::path::Path;
use std::process::Command;

/// What engines.rs runs its helpers with: the test venv's Python.
fn run_python(args: &[&str]) -> String {
    run_ok(Command::new(peer_python()).args(args))
}

/// The moto server, or `None` (with the reason printed, or a failure under scripts/test).
fn s3_server() -> Option<&'static engines::S3> {
    let server = engines::s3();
    if server.is_none() {
        engines::unavailable("moto_server is not in the test venv");
    }
    server
}

/// The server's endpoint as `localhost`, which rattler's S3 support addresses by path.
fn endpoint(s3: &engines::S3) -> String {
    s3.endpoint.replace("127.0.0.1", "localhost")
}

/// krait with the AWS chain pointed at the server: keys (unless `keys` is false), region and
/// endpoint from the environment, no profile files (HOME is the test's), no instance metadata.
fn krait_s3(home: &Path, s3: &engines::S3, keys: bool) -> Command {
    let mut cmd = krait(home);
    if keys {
        cmd.env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "testsecret");
    } else {
        cmd.env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY");
    }
    cmd.env("AWS_ENDPOINT_URL", endpoint(s3))
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_CONFIG_FILE")
        .env_remove("AWS_SHARED_CREDENTIALS_FILE")
        .env_remove("AWS_SESSION_TOKEN");
    cmd
}

/// boto3 (a peer S3 client) on the server: `code` runs with `s3` (the client) and `bucket`.
fn boto3(s3: &engines::S3, bucket: &str, code: &str) -> String {
    run_python(&[
        "-c",
        &format!(
            "import boto3, json, sys\n\
             s3 = boto3.client('s3', endpoint_url='{}', region_name='us-east-1', \
             aws_access_key_id='test', aws_secret_access_key='testsecret')\n\
             bucket = '{bucket}'\n{code}",
            s3.endpoint
        ),
    ])
}

/// Every key in the bucket under `prefix`.
fn keys(s3: &engines::S3, bucket: &str, prefix: &str) -> Vec<String> {
    let out = boto3(
        s3,
        bucket,
        &format!(
            "pages = s3.get_paginator('list_objects_v2').paginate(Bucket=bucket, Prefix='{prefix}')\n\
             print(json.dumps(sorted(o['Key'] for p in pages for o in p.get('Contents', []))))"
        ),
    );
    serde_json::from_str(out.trim()).unwrap()
}

/// An object's bytes as JSON.
fn json_object(s3: &engines::S3, bucket: &str, key: &str) -> Value {
    let out = boto3(
        s3,
        bucket,
        &format!(
            "sys.stdout.write(s3.get_object(Bucket=bucket, Key='{key}')['Body'].read().decode())"
        ),
    );
    serde_json::from_str(&out).unwrap()
}

/// `krait search --json` of `spec` in one channel (linux-64 and noarch).
fn search_command(home: &Path, s3: &engines::S3, channel: &str, spec: &str) -> Command {
    let mut cmd = krait_s3(home, s3, true);
    cmd.args(["search", "--override-channels", "-c", channel])
        .args(["--platform", "linux-64", "--json", spec]);
    cmd
}

/// The versions `krait search` finds of `spec` in one channel, sorted.
fn search(home: &Path, s3: &engines::S3, channel: &str, spec: &str) -> Vec<String> {
    let out = run_ok(&mut search_command(home, s3, channel, spec));
    let mut versions = found_versions(out.as_bytes());
    versions.sort();
    versions
}

/// Whether `krait search` finds nothing for `spec` (it exits non-zero, as conda does).
fn search_fails(home: &Path, s3: &engines::S3, channel: &str, spec: &str) -> bool {
    !common::run(&mut search_command(home, s3, channel, spec))
        .status
        .success()
}

#[test]
fn a_channel_in_a_bucket_is_indexed_uploaded_to_promoted_pruned_and_installed_from() {
    let Some(s3) = s3_server() else { return };
    let bucket = s3.bucket();
    let channel = format!("s3://{bucket}/team");
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path();
    let local = home.join("built");
    let foo1 = Package::new("foo", "1.0", "0", "noarch").write(&local, Format::Conda);
    let foo2 = Package::new("foo", "2.0", "0", "noarch").write(&local, Format::Conda);
    let bar = Package::new("bar", "1.0", "h0_0", "linux-64")
        .depends(&["foo"])
        .write(&local, Format::TarBz2);

    // A new channel: indexing an empty prefix writes noarch's repodata and channeldata.json.
    run_ok(krait_s3(home, s3, true).args(["index", &channel]));
    assert_eq!(
        keys(s3, &bucket, "team/"),
        [
            "team/.cache/krait-index/noarch.json",
            "team/channeldata.json",
            "team/noarch/repodata.json",
            "team/noarch/repodata.json.zst",
        ]
    );

    // Uploads: each archive, then its subdir's repodata.
    let out = run_ok(
        krait_s3(home, s3, true)
            .args(["upload", "--json", "--to", &channel])
            .arg(&foo1)
            .arg(&bar),
    );
    let uploaded: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(uploaded[1]["target"], "linux-64/bar-1.0-h0_0.tar.bz2");
    let all = keys(s3, &bucket, "team/");
    for key in [
        "team/noarch/foo-1.0-0.conda",
        "team/linux-64/bar-1.0-h0_0.tar.bz2",
        "team/linux-64/repodata.json",
        "team/linux-64/repodata.json.zst",
    ] {
        assert!(all.iter().any(|k| k == key), "{key} missing from {all:?}");
    }
    let noarch = json_object(s3, &bucket, "team/noarch/repodata.json");
    assert_eq!(listed_files(&noarch), ["foo-1.0-0.conda"]);
    // Clients keep repodata and revalidate it (as with `krait serve`); archives say nothing.
    let cache_control = |key: &str| {
        boto3(
            s3,
            &bucket,
            &format!("print(s3.head_object(Bucket=bucket, Key='{key}').get('CacheControl'))"),
        )
    };
    assert_eq!(
        cache_control("team/noarch/repodata.json").trim(),
        "public, max-age=0, must-revalidate"
    );
    assert_eq!(cache_control("team/noarch/foo-1.0-0.conda").trim(), "None");
    let channeldata = json_object(s3, &bucket, "team/channeldata.json");
    assert!(channeldata["packages"]["bar"]["subdirs"]
        .as_array()
        .unwrap()
        .contains(&"linux-64".into()));
    // Not twice without --force.
    let err = run_err(
        krait_s3(home, s3, true)
            .args(["upload", "--to", &channel])
            .arg(&foo1),
    );
    assert!(
        err.contains("noarch/foo-1.0-0.conda already exists"),
        "{err}"
    );

    // Read through `-c s3://...`: search, and an environment whose packages come from the bucket.
    assert_eq!(search(home, s3, &channel, "foo"), ["1.0"]);
    let prefix = home.join("env");
    run_ok(
        krait_s3(home, s3, true)
            .args(["create", "-y", "--override-channels", "-c", &channel, "-p"])
            .arg(&prefix)
            .arg("bar"),
    );
    assert!(prefix.join("share/bar/README").is_file());
    assert!(prefix.join("conda-meta/foo-1.0-0.json").is_file());
    // py-rattler, a peer client, solves against the bucket with the same AWS environment.
    let out = run_ok(
        peer_script("solve.py")
            .env("AWS_ENDPOINT_URL", endpoint(s3))
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "testsecret")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("HOME", home)
            .arg(home.join("py-rattler-cache"))
            .args(["linux-64", &channel, "bar"]),
    );
    let solved: Vec<String> = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(solved, ["bar-1.0-h0_0.tar.bz2", "foo-1.0-0.conda"]);

    // Labels: an upload to dev is not in main until it is promoted.
    run_ok(
        krait_s3(home, s3, true)
            .args(["upload", "--label", "dev", "--to", &channel])
            .arg(&foo2),
    );
    assert_eq!(
        search(home, s3, &format!("{channel}/label/dev"), "foo"),
        ["2.0"]
    );
    assert_eq!(search(home, s3, &channel, "foo"), ["1.0"]);
    let out = run_ok(krait_s3(home, s3, true).args([
        "copy",
        "-c",
        &channel,
        "--from-label",
        "dev",
        "--to-label",
        "main",
        "--json",
        "foo ==2.0",
    ]));
    assert!(out.contains("noarch/foo-2.0-0.conda"), "{out}");
    assert_eq!(search(home, s3, &channel, "foo"), ["1.0", "2.0"]);

    // An archive put by another tool is listed after `krait index`, here with sharded
    // repodata, which krait's own client then reads.
    let baz = Package::new("baz", "0.1", "0", "noarch").write(&local, Format::Conda);
    boto3(
        s3,
        &bucket,
        &format!(
            "s3.upload_file('{}', bucket, 'team/noarch/baz-0.1-0.conda')",
            baz.display()
        ),
    );
    assert!(search_fails(home, s3, &channel, "baz"));
    run_ok(krait_s3(home, s3, true).args(["index", "--shards", &channel]));
    let all = keys(s3, &bucket, "team/noarch/");
    assert!(
        all.iter()
            .any(|k| k == "team/noarch/repodata_shards.msgpack.zst"),
        "{all:?}"
    );
    assert!(all.iter().any(|k| k.starts_with("team/noarch/shards/")));
    assert_eq!(search(home, s3, &channel, "baz"), ["0.1"]);

    // Patch instructions fix a record without touching its archive.
    let patches = home.join("patch_instructions.json");
    std::fs::write(
        &patches,
        r#"{"patch_instructions_version": 1, "packages": {}, "packages.conda": {"foo-1.0-0.conda": {"depends": ["python >=3"]}}, "remove": [], "revoke": []}"#,
    )
    .unwrap();
    run_ok(
        krait_s3(home, s3, true)
            .args(["index", &channel, "--patch-instructions"])
            .arg(&patches),
    );
    let noarch = json_object(s3, &bucket, "team/noarch/repodata.json");
    assert_eq!(
        noarch["packages.conda"]["foo-1.0-0.conda"]["depends"],
        serde_json::json!(["python >=3"])
    );
    let unpatched = json_object(s3, &bucket, "team/noarch/repodata_from_packages.json");
    assert_eq!(
        unpatched["packages.conda"]["foo-1.0-0.conda"]["depends"],
        serde_json::json!([])
    );

    // Deletion: the repodata entry and the object go together.
    run_ok(krait_s3(home, s3, true).args([
        "upload",
        "--remove",
        "noarch/foo-1.0-0.conda",
        "--to",
        &channel,
    ]));
    assert!(!keys(s3, &bucket, "team/noarch/").contains(&"team/noarch/foo-1.0-0.conda".into()));
    assert_eq!(search(home, s3, &channel, "foo"), ["2.0"]);
    let err = run_err(krait_s3(home, s3, true).args([
        "upload",
        "--remove",
        "noarch/foo-1.0-0.conda",
        "--to",
        &channel,
    ]));
    assert!(err.contains("is not in the channel"), "{err}");
}

#[test]
fn build_uploads_to_a_bucket_label_and_missing_credentials_change_nothing() {
    let Some(s3) = s3_server() else { return };
    let bucket = s3.bucket();
    let channel = format!("s3://{bucket}/ci");
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path();
    let recipe = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/build_recipes/hello-generic");
    let out = run_ok(
        krait_s3(home, s3, true)
            .arg("build")
            .arg(&recipe)
            .arg("--override-channels")
            .arg("--output-folder")
            .arg(home.join("out"))
            .args(["--upload-to", &channel, "--label", "nightly", "--json"]),
    );
    let built: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        built[0]["uploaded"]["target"],
        "noarch/hello-generic-1.2.0-3.conda"
    );
    let repodata = json_object(s3, &bucket, "ci/label/nightly/noarch/repodata.json");
    assert_eq!(listed_files(&repodata), ["hello-generic-1.2.0-3.conda"]);
    assert_eq!(
        search(
            home,
            s3,
            &format!("{channel}/label/nightly"),
            "hello-generic"
        ),
        ["1.2.0"]
    );

    // No credentials anywhere in the chain: the error names the object and what to set, and
    // nothing in the bucket changes.
    let before = keys(s3, &bucket, "");
    let other = Package::new("other", "1.0", "0", "noarch").write(&home.join("x"), Format::Conda);
    let err = run_err(
        krait_s3(home, s3, false)
            .args(["upload", "--to", &channel])
            .arg(&other),
    );
    assert!(err.contains(&format!("s3://{bucket}/ci/")), "{err}");
    assert!(err.contains("AWS_ACCESS_KEY_ID"), "{err}");
    assert_eq!(keys(s3, &bucket, ""), before);
    // Reading without them fails too.
    let out = common::run(krait_s3(home, s3, false).args([
        "search",
        "--override-channels",
        "-c",
        &channel,
        "hello-generic",
    ]));
    assert!(!out.status.success());
    // A bucket that does not exist is an error, not an empty channel.
    let err = run_err(krait_s3(home, s3, true).args(["index", "s3://no-such-bucket/x"]));
    assert!(err.contains("s3://no-such-bucket/x"), "{err}");
}
