//! `krait serve` as a team's channel host: cache headers clients rely on, channeldata.json,
//! deletion, many channels under one root, labels and promotion between them, with krait's
//! own client and py-rattler.

mod common;

use common::fixtures::{Format, Package};
use common::serve::{found_versions, listed_files, py_rattler_solve as solve};
use common::serve::{request, token_file, Server};
use common::{krait, run, run_err, run_ok};
use std::path::Path;

const REVALIDATE: &str = "public, max-age=0, must-revalidate";

/// `krait search` against one channel URL: (versions found of `spec`, stderr).
fn search(home: &Path, channel_url: &str, spec: &str) -> (Vec<String>, String) {
    let out = run(krait(home).args([
        "search",
        "--override-channels",
        "-c",
        channel_url,
        "--platform",
        "linux-64",
        "--json",
        spec,
    ]));
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (found_versions(&out.stdout), stderr)
}

fn repodata_files(server: &Server, path: &str) -> Vec<String> {
    let reply = request("GET", &format!("{}{path}", server.url), &[], None);
    assert_eq!(reply.status, 200, "{path}: {}", reply.text());
    listed_files(&serde_json::from_slice(&reply.body).unwrap())
}

#[test]
fn repodata_is_revalidated_channeldata_is_written_and_deletions_reach_cached_clients() {
    let tmp = tempfile::tempdir().unwrap();
    let channel = tmp.path().join("channel");
    Package::new("libfoo", "1.0", "h0_0", "linux-64").write(&channel, Format::Conda);
    Package::new("libfoo", "1.5", "h0_0", "linux-64")
        .file("etc/conda/activate.d/libfoo.sh", "export LIBFOO=1\n")
        .file("bin/.libfoo-post-link.sh", "true\n")
        .write(&channel, Format::Conda);
    Package::new("bar", "2.0", "0", "noarch")
        .file(
            "share/bar/conf",
            format!("{}\n", common::fixtures::PLACEHOLDER),
        )
        .with_placeholder("share/bar/conf", "text")
        .write(&channel, Format::TarBz2);
    let write = token_file(tmp.path(), "write.token", "writer-secret");
    let server = Server::start(
        tmp.path(),
        &channel,
        &["--write-token-file", write.to_str().unwrap()],
    );

    // Repodata (plain and .zst) says how to cache it, and revalidates with a 304 that says so too.
    let repodata_url = format!("{}/linux-64/repodata.json", server.url);
    let first = request("GET", &repodata_url, &[], None);
    assert_eq!(first.header("cache-control"), Some(REVALIDATE));
    assert!(first.header("last-modified").is_some());
    let etag = first.header("etag").expect("an ETag").to_string();
    let again = request("GET", &repodata_url, &[("if-none-match", &etag)], None);
    assert_eq!(again.status, 304);
    assert_eq!(again.header("cache-control"), Some(REVALIDATE));
    let zst = request("GET", &format!("{repodata_url}.zst"), &[], None);
    assert_eq!(zst.header("cache-control"), Some(REVALIDATE));

    // channeldata.json, read as rattler reads it.
    let reply = request(
        "GET",
        &format!("{}/channeldata.json", server.url),
        &[],
        None,
    );
    assert_eq!(reply.status, 200);
    let data: rattler_conda_types::ChannelData = serde_json::from_slice(&reply.body).unwrap();
    assert_eq!(data.channeldata_version, 1);
    assert_eq!(data.subdirs, ["linux-64", "noarch"]);
    let libfoo = &data.packages["libfoo"];
    assert_eq!(libfoo.version.as_ref().unwrap().to_string(), "1.5");
    assert_eq!(libfoo.subdirs, ["linux-64"]);
    assert_eq!(libfoo.license.as_deref(), Some("MIT"));
    assert!(libfoo.has_activate_scripts && libfoo.has_post_link_scripts);
    assert!(!libfoo.text_prefix && !libfoo.has_deactivate_scripts);
    let bar = &data.packages["bar"];
    assert!(bar.text_prefix && !bar.binary_prefix && !bar.has_activate_scripts);
    assert_eq!(bar.subdirs, ["noarch"]);

    // A second search reuses its cache without rattler's "no cache_control" warning. Without
    // the shard indexes the searches read repodata.json, where that warning was.
    let drop_shard_indexes = || {
        for subdir in ["linux-64", "noarch"] {
            let _ = std::fs::remove_file(channel.join(subdir).join("repodata_shards.msgpack.zst"));
        }
    };
    drop_shard_indexes();
    let home = tmp.path();
    let (versions, _) = search(home, &server.url, "libfoo");
    assert_eq!(versions, ["1.0", "1.5"]);
    let (_, stderr) = search(home, &server.url, "libfoo");
    assert!(!stderr.contains("cache_control"), "{stderr}");

    // DELETE needs the write token; the file and its entry go together.
    let target = format!("{}/linux-64/libfoo-1.5-h0_0.conda", server.url);
    assert_eq!(request("DELETE", &target, &[], None).status, 401);
    let bearer = [("authorization", "Bearer writer-secret")];
    let deleted = request("DELETE", &target, &bearer, None);
    assert_eq!(deleted.status, 200, "{}", deleted.text());
    assert!(!channel.join("linux-64/libfoo-1.5-h0_0.conda").exists());
    assert_eq!(
        repodata_files(&server, "/linux-64/repodata.json"),
        ["libfoo-1.0-h0_0.conda"]
    );
    assert_eq!(request("DELETE", &target, &bearer, None).status, 404);
    let hostile = format!("{}/linux-64/..%2Fnoarch%2Fbar-2.0-0.tar.bz2", server.url);
    assert_eq!(request("DELETE", &hostile, &bearer, None).status, 400);
    assert!(channel.join("noarch/bar-2.0-0.tar.bz2").exists());
    // The client with the old repodata cached sees the deletion on its next search.
    drop_shard_indexes();
    let (versions, _) = search(home, &server.url, "libfoo");
    assert_eq!(versions, ["1.0"]);

    // krait upload --remove does the same from the command line.
    run_ok(krait(home).args([
        "upload",
        "--remove",
        "noarch/bar-2.0-0.tar.bz2",
        "--to",
        &server.url,
        "--token-file",
        write.to_str().unwrap(),
    ]));
    assert!(repodata_files(&server, "/noarch/repodata.json").is_empty());
    let data = request(
        "GET",
        &format!("{}/channeldata.json", server.url),
        &[],
        None,
    );
    let data: serde_json::Value = serde_json::from_slice(&data.body).unwrap();
    assert!(data["packages"].get("bar").is_none(), "{data}");
    let err = run_err(krait(home).args([
        "upload",
        "--remove",
        "noarch/bar-2.0-0.tar.bz2",
        "--to",
        &server.url,
        "--token-file",
        write.to_str().unwrap(),
    ]));
    assert!(err.contains("404"), "{err}");
}

#[test]
fn sharded_repodata_is_written_served_and_used_by_clients() {
    let tmp = tempfile::tempdir().unwrap();
    let channel = tmp.path().join("channel");
    Package::new("libfoo", "1.0", "h0_0", "linux-64").write(&channel, Format::Conda);
    Package::new("libfoo", "1.5", "h0_0", "linux-64").write(&channel, Format::TarBz2);
    Package::new("bar", "2.0", "0", "noarch")
        .depends(&["libfoo >=1,<2"])
        .write(&channel, Format::Conda);
    let server = Server::start(tmp.path(), &channel, &[]);

    let index = request(
        "GET",
        &format!("{}/linux-64/repodata_shards.msgpack.zst", server.url),
        &[],
        None,
    );
    assert_eq!(index.status, 200);
    assert_eq!(index.header("cache-control"), Some(REVALIDATE));
    let index: rattler_conda_types::ShardedRepodata =
        rmp_serde::from_slice(&zstd::decode_all(index.body.as_slice()).unwrap()).unwrap();
    assert_eq!(index.info.subdir, "linux-64");
    assert_eq!(index.shards.keys().collect::<Vec<_>>(), ["libfoo"]);
    let shard_url = format!(
        "{}/linux-64/shards/{}.msgpack.zst",
        server.url,
        hex::encode(index.shards["libfoo"])
    );
    let shard = request("GET", &shard_url, &[], None);
    assert_eq!(shard.status, 200);
    assert_eq!(
        common::sha256_hex(&shard.body),
        hex::encode(index.shards["libfoo"])
    );
    assert_eq!(
        shard.header("cache-control"),
        Some("public, max-age=31536000, immutable")
    );
    let shard: rattler_conda_types::Shard =
        rmp_serde::from_slice(&zstd::decode_all(shard.body.as_slice()).unwrap()).unwrap();
    assert_eq!(shard.conda_packages.len(), 1);
    assert_eq!(shard.packages.len(), 1);

    // With the plain repodata gone, krait and py-rattler still find everything: through shards.
    for subdir in ["linux-64", "noarch"] {
        for file in ["repodata.json", "repodata.json.zst"] {
            std::fs::remove_file(channel.join(subdir).join(file)).unwrap();
        }
    }
    let (versions, stderr) = search(tmp.path(), &server.url, "libfoo");
    assert_eq!(versions, ["1.0", "1.5"], "{stderr}");
    assert_eq!(
        solve(tmp.path(), &server.url, "bar"),
        ["bar-2.0-0.conda", "libfoo-1.5-h0_0.tar.bz2"]
    );
}

#[test]
fn one_server_hosts_many_channels_with_labels_and_promotion() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("channels");
    Package::new("teamlib", "1.0", "h0_0", "linux-64").write(&root.join("team"), Format::Conda);
    Package::new("opslib", "1.0", "h0_0", "linux-64").write(&root.join("ops"), Format::Conda);
    let write = token_file(tmp.path(), "write.token", "writer-secret");
    let server = Server::start(
        tmp.path(),
        &root,
        &["--write-token-file", write.to_str().unwrap()],
    );
    let team = format!("{}/team", server.url);
    assert_eq!(
        repodata_files(&server, "/team/linux-64/repodata.json"),
        ["teamlib-1.0-h0_0.conda"]
    );
    assert_eq!(
        repodata_files(&server, "/team/label/main/linux-64/repodata.json"),
        ["teamlib-1.0-h0_0.conda"]
    );
    assert_eq!(
        repodata_files(&server, "/ops/linux-64/repodata.json"),
        ["opslib-1.0-h0_0.conda"]
    );
    let missing = request(
        "GET",
        &format!("{}/nobody/noarch/repodata.json", server.url),
        &[],
        None,
    );
    assert_eq!(missing.status, 404);
    assert!(
        missing.text().contains("no channel named"),
        "{}",
        missing.text()
    );

    // A new version goes to the dev label only.
    let dist = tmp.path().join("dist");
    let new = Package::new("teamlib", "2.0", "h0_0", "linux-64").write(&dist, Format::Conda);
    let token = ["--token-file", write.to_str().unwrap()];
    run_ok(
        krait(tmp.path())
            .args([
                "upload",
                new.to_str().unwrap(),
                "--to",
                &team,
                "--label",
                "dev",
            ])
            .args(token),
    );
    assert!(root
        .join("team/label/dev/linux-64/teamlib-2.0-h0_0.conda")
        .is_file());
    let home = tmp.path();
    assert_eq!(
        solve(home, &format!("{team}/label/dev"), "teamlib"),
        ["teamlib-2.0-h0_0.conda"]
    );
    assert_eq!(solve(home, &team, "teamlib"), ["teamlib-1.0-h0_0.conda"]);

    // Promotion on the server: dev → main; the other channel is untouched.
    let out = run_ok(
        krait(home)
            .args([
                "copy",
                "teamlib >=2",
                "--from-label",
                "dev",
                "--to-label",
                "main",
                "-c",
                &team,
            ])
            .args(token),
    );
    assert!(
        out.contains("copied linux-64/teamlib-2.0-h0_0.conda"),
        "{out}"
    );
    assert_eq!(solve(home, &team, "teamlib"), ["teamlib-2.0-h0_0.conda"]);
    assert_eq!(
        repodata_files(&server, "/ops/linux-64/repodata.json"),
        ["opslib-1.0-h0_0.conda"]
    );
    let err = run_err(
        krait(home)
            .args(["copy", "nothing", "--from-label", "dev", "-c", &team])
            .args(token),
    );
    assert!(
        err.contains("no package in label dev matches nothing"),
        "{err}"
    );
    let err = run_err(krait(home).args(["copy", "teamlib", "--from-label", "dev", "-c", &team]));
    assert!(err.contains("401"), "{err}");

    // The same with a channel folder instead of a server.
    let ops = root.join("ops");
    let ops_new = Package::new("opslib", "2.0", "h0_0", "linux-64").write(&dist, Format::Conda);
    let ops_dir = ops.to_str().unwrap();
    run_ok(krait(home).args([
        "upload",
        ops_new.to_str().unwrap(),
        "--to",
        ops_dir,
        "--label",
        "dev",
    ]));
    run_ok(krait(home).args(["copy", "opslib 2.*", "--from-label", "dev", "-c", ops_dir]));
    assert!(ops.join("linux-64/opslib-2.0-h0_0.conda").is_file());
    assert_eq!(
        repodata_files(&server, "/ops/linux-64/repodata.json"),
        ["opslib-1.0-h0_0.conda", "opslib-2.0-h0_0.conda"]
    );
    let err = run_err(krait(home).args([
        "upload",
        ops_new.to_str().unwrap(),
        "--to",
        ops_dir,
        "--label",
        "../x",
    ]));
    assert!(err.contains("is not a label name"), "{err}");
}

/// The tokens-file line for `token`, as `krait serve --hash-token` prints it.
fn hashed(home: &Path, token: &str) -> String {
    use std::io::Write;
    let mut child = krait(home)
        .args(["serve", "--hash-token"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{token}").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[test]
fn scoped_tokens_open_only_their_channels_and_every_write_is_audited() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path();
    let root = tmp.path().join("channels");
    Package::new("teamlib", "1.0", "h0_0", "linux-64").write(&root.join("team"), Format::Conda);
    Package::new("opslib", "1.0", "h0_0", "linux-64").write(&root.join("ops"), Format::Conda);
    let tokens = tmp.path().join("tokens.yaml");
    std::fs::write(
        &tokens,
        format!(
            "public_channels: [ops]\ntokens:\n\
             - {{name: ci, hash: \"{}\", scopes: {{team: [write]}}}}\n\
             - {{name: admin, hash: \"{}\", scopes: {{\"*\": [read, write, delete]}}}}\n\
             - {{name: old, hash: \"{}\", expires: \"2020-01-01T00:00:00Z\", scopes: {{team: [read]}}}}\n",
            hashed(home, "ci-secret"),
            hashed(home, "admin-secret"),
            hashed(home, "old-secret"),
        ),
    )
    .unwrap();
    assert!(!std::fs::read_to_string(&tokens).unwrap().contains("secret"));
    let server = Server::start(home, &root, &["--tokens-file", tokens.to_str().unwrap()]);
    let get = |path: &str, token: &str| {
        let auth = format!("Bearer {token}");
        let headers: &[(&str, &str)] = if token.is_empty() {
            &[]
        } else {
            &[("authorization", &auth)]
        };
        request("GET", &format!("{}{path}", server.url), headers, None)
    };
    let team_repodata = "/team/linux-64/repodata.json";
    assert_eq!(get(team_repodata, "").status, 401);
    assert_eq!(get("/ops/linux-64/repodata.json", "").status, 200);
    assert_eq!(get(team_repodata, "ci-secret").status, 200);
    assert_eq!(get(team_repodata, "wrong").status, 401);
    let expired = get(team_repodata, "old-secret");
    assert_eq!(expired.status, 401);
    assert!(
        expired.text().contains("\"old\" has expired"),
        "{}",
        expired.text()
    );

    // ci may upload to team, not to ops, and may not delete.
    let dist = tmp.path().join("dist");
    let new = Package::new("teamlib", "2.0", "h0_0", "linux-64").write(&dist, Format::Conda);
    let upload = |channel: &str, token: &str| {
        run(krait(home).args([
            "upload",
            new.to_str().unwrap(),
            "--to",
            &format!("{}/{channel}", server.url),
            "--token",
            token,
        ]))
    };
    assert!(upload("team", "ci-secret").status.success());
    let refused = upload("ops", "ci-secret");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("may not write in channel \"ops\""),
        "{stderr}"
    );
    assert!(!root.join("ops/linux-64/teamlib-2.0-h0_0.conda").exists());
    let target = format!("{}/team/linux-64/teamlib-2.0-h0_0.conda", server.url);
    let by_ci = request(
        "DELETE",
        &target,
        &[("authorization", "Bearer ci-secret")],
        None,
    );
    assert_eq!(by_ci.status, 403, "{}", by_ci.text());
    let by_admin = request(
        "DELETE",
        &target,
        &[("authorization", "Bearer admin-secret")],
        None,
    );
    assert_eq!(by_admin.status, 200, "{}", by_admin.text());

    // Who did what, when: one JSON line per write, never served.
    let log = std::fs::read_to_string(root.join(".krait-audit.jsonl")).unwrap();
    let entries: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let summary: Vec<(&str, &str, &str)> = entries
        .iter()
        .map(|e| {
            (
                e["who"].as_str().unwrap(),
                e["action"].as_str().unwrap(),
                e["channel"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [("ci", "upload", "team"), ("admin", "delete", "team")]
    );
    assert!(entries.iter().all(|e| e["time"].as_str().is_some()));
    assert_eq!(
        entries[0]["what"]["target"],
        "linux-64/teamlib-2.0-h0_0.conda"
    );
    assert_eq!(get("/.krait-audit.jsonl", "admin-secret").status, 404);
}

#[test]
fn patch_instructions_fix_records_without_a_rebuild() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path();
    let channel = tmp.path().join("channel");
    for version in ["1.0", "2.0"] {
        Package::new("libfoo", version, "h0_0", "linux-64").write(&channel, Format::Conda);
    }
    Package::new("bar", "2.0", "0", "noarch")
        .depends(&["libfoo >=1,<2"])
        .write(&channel, Format::Conda);
    Package::new("broken", "1.0", "0", "noarch").write(&channel, Format::Conda);
    Package::new("unsafe", "1.0", "0", "noarch").write(&channel, Format::Conda);
    let channel_dir = channel.to_str().unwrap();
    // A bad file is refused, naming it, before anything changes.
    let bad = tmp.path().join("bad.json");
    std::fs::write(
        &bad,
        r#"{"packages.conda": {"bar-2.0-0.conda": {"depends": "libfoo"}}}"#,
    )
    .unwrap();
    let err = run_err(
        krait(home)
            .args(["index", channel_dir, "--patch-instructions"])
            .arg(&bad),
    );
    assert!(
        err.contains("bad.json is not valid repodata patch instructions"),
        "{err}"
    );
    assert!(!channel.join("noarch/patch_instructions.json").exists());

    let patches = tmp.path().join("patch_instructions.json");
    std::fs::write(
        &patches,
        r#"{"patch_instructions_version": 1,
            "packages.conda": {"bar-2.0-0.conda": {"depends": ["libfoo >=2"]}},
            "remove": ["broken-1.0-0.conda"], "revoke": ["unsafe-1.0-0.conda"]}"#,
    )
    .unwrap();
    run_ok(
        krait(home)
            .args(["index", channel_dir, "--patch-instructions"])
            .arg(&patches),
    );
    let noarch: serde_json::Value =
        serde_json::from_slice(&std::fs::read(channel.join("noarch/repodata.json")).unwrap())
            .unwrap();
    assert_eq!(
        noarch["packages.conda"]["bar-2.0-0.conda"]["depends"],
        serde_json::json!(["libfoo >=2"])
    );
    assert!(noarch["packages.conda"].get("broken-1.0-0.conda").is_none());
    assert_eq!(noarch["removed"], serde_json::json!(["broken-1.0-0.conda"]));
    // channeldata.json is made from the patched records, as conda-index makes it.
    let channeldata: serde_json::Value =
        serde_json::from_slice(&std::fs::read(channel.join("channeldata.json")).unwrap()).unwrap();
    assert!(
        channeldata["packages"].get("broken").is_none(),
        "{channeldata}"
    );
    assert!(
        channeldata["packages"].get("bar").is_some(),
        "{channeldata}"
    );
    assert_eq!(
        noarch["packages.conda"]["unsafe-1.0-0.conda"]["depends"],
        serde_json::json!(["package_has_been_revoked"])
    );
    let unpatched: serde_json::Value = serde_json::from_slice(
        &std::fs::read(channel.join("noarch/repodata_from_packages.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        unpatched["packages.conda"]["bar-2.0-0.conda"]["depends"],
        serde_json::json!(["libfoo >=1,<2"])
    );

    // Kept through later uploads, and what a client solves with.
    let dist = tmp.path().join("dist");
    let other = Package::new("other", "1.0", "0", "noarch").write(&dist, Format::Conda);
    run_ok(krait(home).args(["upload", other.to_str().unwrap(), "--to", channel_dir]));
    let server = Server::start(home, &channel, &[]);
    assert_eq!(
        solve(home, &server.url, "bar"),
        ["bar-2.0-0.conda", "libfoo-2.0-h0_0.conda"]
    );
}

#[test]
fn mirrored_channels_are_fetched_from_their_mirrors_in_order() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path();
    let channel = tmp.path().join("channel");
    Package::new("libfoo", "1.0", "h0_0", "linux-64").write(&channel, Format::Conda);
    let server = Server::start(home, &channel, &[]);
    // Neither upstream exists: one named through channel_alias, one by URL. Each one's first
    // mirror refuses connections; the second is the server.
    std::fs::write(
        home.join(".condarc"),
        format!(
            "channel_alias: https://alias.invalid/\nremote_backoff_factor: 0.01\n\
             mirrored_channels:\n  team: [http://127.0.0.1:1/dead, {url}]\n  \
             https://upstream.invalid/ops/: [http://127.0.0.1:1/dead/, {url}/]\n",
            url = server.url
        ),
    )
    .unwrap();
    let (versions, stderr) = search(home, "team", "libfoo");
    assert_eq!(versions, ["1.0"], "{stderr}");
    let (versions, stderr) = search(home, "https://upstream.invalid/ops", "libfoo");
    assert_eq!(versions, ["1.0"], "{stderr}");
}
