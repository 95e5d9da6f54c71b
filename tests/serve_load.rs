//! A soak of one `krait serve`, twice: 200 concurrent downloads while 20 uploads land and a
//! `krait index` of the same folder runs next to the server. No reader ever sees a partial
//! repodata.json or archive, and after each round every package uploaded so far is in
//! repodata exactly once with the sha256 of what was sent: the index run loses none of them.
//! Loopback only, bounded to 60 s a round.

mod common;

use common::fixtures::{Format, Package};
use common::serve::{request, token_file, Server};
use common::sha256_hex;
use std::collections::BTreeMap;
use std::time::Duration;

const UPLOADS: usize = 20;
const DOWNLOADS: usize = 200;

#[test]
fn concurrent_downloads_uploads_and_an_index_run_stay_consistent() {
    let tmp = tempfile::tempdir().unwrap();
    let channel = tmp.path().join("channel");
    for i in 0..5 {
        Package::new(&format!("base{i}"), "1.0", "h0_0", "linux-64").write(&channel, Format::Conda);
    }
    let write = token_file(tmp.path(), "write.token", "load-write");
    let server = Server::start(
        tmp.path(),
        &channel,
        &["--write-token-file", write.to_str().unwrap()],
    );
    let base_archives: BTreeMap<String, String> = (0..5)
        .map(|i| {
            let name = format!("linux-64/base{i}-1.0-h0_0.conda");
            let sha = sha256_hex(&std::fs::read(channel.join(&name)).unwrap());
            (name, sha)
        })
        .collect();
    let mut uploaded = Vec::new();
    for round in 0..2 {
        uploaded.extend(soak_round(
            tmp.path(),
            &channel,
            &server,
            round,
            &base_archives,
        ));
        check_listed(&channel, &server, &uploaded);
    }
}

/// One round: uploads, downloads and a `krait index` at once; returns what was uploaded.
fn soak_round(
    home: &std::path::Path,
    channel: &std::path::Path,
    server: &Server,
    round: usize,
    base_archives: &BTreeMap<String, String>,
) -> Vec<(String, Vec<u8>)> {
    let dist = home.join(format!("dist{round}"));
    let uploads: Vec<(String, Vec<u8>)> = (0..UPLOADS)
        .map(|i| {
            let (subdir, format) = if i % 2 == 0 {
                ("noarch", Format::Conda)
            } else {
                ("linux-64", Format::TarBz2)
            };
            let path =
                Package::new(&format!("up{round}x{i}"), "1.0", "0", subdir).write(&dist, format);
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (format!("{subdir}/{name}"), std::fs::read(&path).unwrap())
        })
        .collect();
    // The command-line indexer next to the server, on the same folder.
    let indexer = common::krait(home)
        .args(["index", "-q"])
        .arg(channel)
        .spawn()
        .unwrap();

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let url = server.url.clone();
    let to_send = uploads.clone();
    let base_archives = base_archives.clone();
    runtime.block_on(async move {
        let client = reqwest::Client::new();
        let mut tasks = tokio::task::JoinSet::new();
        for (target, bytes) in to_send {
            let (client, url) = (client.clone(), url.clone());
            tasks.spawn(async move {
                let reply = client
                    .put(format!("{url}/api/upload/{target}"))
                    .bearer_auth("load-write")
                    .header("x-content-sha256", sha256_hex(&bytes))
                    .body(bytes)
                    .send()
                    .await
                    .unwrap();
                let status = reply.status();
                assert_eq!(status, 201, "{target}: {}", reply.text().await.unwrap());
            });
        }
        for i in 0..DOWNLOADS {
            let (client, url) = (client.clone(), url.clone());
            let base_archives = base_archives.clone();
            tasks.spawn(async move {
                if i % 2 == 0 {
                    // repodata.json must always parse: it is replaced, never written in place.
                    let subdir = if i % 4 == 0 { "noarch" } else { "linux-64" };
                    let body = client
                        .get(format!("{url}/{subdir}/repodata.json"))
                        .send()
                        .await
                        .unwrap()
                        .bytes()
                        .await
                        .unwrap();
                    let repodata: serde_json::Value = serde_json::from_slice(&body)
                        .unwrap_or_else(|e| panic!("partial repodata.json during uploads: {e}"));
                    assert_eq!(repodata["info"]["subdir"], subdir);
                } else {
                    let (name, sha) = base_archives.iter().nth(i % 5).unwrap();
                    let reply = client.get(format!("{url}/{name}")).send().await.unwrap();
                    assert_eq!(reply.status(), 200);
                    assert_eq!(&sha256_hex(&reply.bytes().await.unwrap()), sha);
                }
            });
        }
        tokio::time::timeout(Duration::from_secs(60), async {
            while let Some(done) = tasks.join_next().await {
                done.unwrap();
            }
        })
        .await
        .expect("the load finished within 60 s");
    });
    let indexed = indexer.wait_with_output().unwrap();
    assert!(
        indexed.status.success(),
        "krait index failed next to the server"
    );
    uploads
}

/// Every package uploaded so far is in repodata exactly once, with the sha256 sent.
fn check_listed(channel: &std::path::Path, server: &Server, uploads: &[(String, Vec<u8>)]) {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for subdir in ["noarch", "linux-64"] {
        let text = common::serve::request(
            "GET",
            &format!("{}/{subdir}/repodata.json", server.url),
            &[],
            None,
        )
        .text();
        let repodata: serde_json::Value = serde_json::from_str(&text).unwrap();
        for key in ["packages", "packages.conda"] {
            for (file, record) in repodata[key].as_object().unwrap() {
                *seen.entry(format!("{subdir}/{file}")).or_default() += 1;
                let on_disk = std::fs::read(channel.join(subdir).join(file)).unwrap();
                assert_eq!(record["sha256"], sha256_hex(&on_disk), "{subdir}/{file}");
            }
        }
    }
    for (target, bytes) in uploads {
        assert_eq!(seen.get(target), Some(&1), "{target} in repodata");
        assert_eq!(&std::fs::read(channel.join(target)).unwrap(), bytes);
    }
    assert_eq!(seen.len(), uploads.len() + 5);
}

/// Where the second soak uploads: two channels of one root, each with a dev label.
const LOCATIONS: [&str; 4] = ["/a", "/a/label/dev", "/b", "/b/label/dev"];

/// Two channels with a dev label each under one root: 20 uploads spread over the four, 5
/// deletions and 200 repodata fetches at once. Every body parses; afterwards every upload is
/// listed exactly where it went and no deleted package is listed anywhere (repodata.json or
/// the shard index).
#[test]
fn uploads_and_deletions_across_channels_and_labels_lose_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("channels");
    for channel in ["a", "b"] {
        for i in 0..3 {
            Package::new(&format!("old{i}"), "1.0", "h0_0", "linux-64")
                .write(&root.join(channel), Format::Conda);
        }
        std::fs::create_dir_all(root.join(channel).join("label/dev")).unwrap();
    }
    let write = token_file(tmp.path(), "write.token", "load-write");
    let server = Server::start(
        tmp.path(),
        &root,
        &["--write-token-file", write.to_str().unwrap()],
    );
    let dist = tmp.path().join("dist");
    let uploads: Vec<(String, String, Vec<u8>)> = (0..UPLOADS)
        .map(|i| {
            let path =
                Package::new(&format!("new{i}"), "1.0", "0", "noarch").write(&dist, Format::Conda);
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (
                LOCATIONS[i % 4].to_string(),
                format!("noarch/{name}"),
                std::fs::read(&path).unwrap(),
            )
        })
        .collect();
    let deletions = [
        "/a/linux-64/old0",
        "/a/linux-64/old1",
        "/b/linux-64/old0",
        "/b/linux-64/old1",
        "/b/linux-64/old2",
    ]
    .map(|p| format!("{p}-1.0-h0_0.conda"));

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let url = server.url.clone();
    let to_send = uploads.clone();
    runtime.block_on(async move {
        let client = reqwest::Client::new();
        let mut tasks = tokio::task::JoinSet::new();
        for (location, target, bytes) in to_send {
            let (client, url) = (client.clone(), url.clone());
            tasks.spawn(async move {
                let reply = client
                    .put(format!("{url}{location}/api/upload/{target}"))
                    .bearer_auth("load-write")
                    .body(bytes)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(reply.status(), 201, "{location}/{target}");
            });
        }
        for path in deletions {
            let (client, url) = (client.clone(), url.clone());
            tasks.spawn(async move {
                let reply = client
                    .delete(format!("{url}{path}"))
                    .bearer_auth("load-write")
                    .send();
                assert_eq!(reply.await.unwrap().status(), 200, "{path}");
            });
        }
        for i in 0..DOWNLOADS {
            let (client, url) = (client.clone(), url.clone());
            tasks.spawn(async move {
                // The labels have only noarch/.
                let location = LOCATIONS[i % 4];
                let subdir = if i % 8 < 4 { "noarch" } else { "linux-64" };
                let subdir = if location.contains("label") {
                    "noarch"
                } else {
                    subdir
                };
                let reply = client
                    .get(format!("{url}{location}/{subdir}/repodata.json"))
                    .send();
                let body = reply.await.unwrap().bytes().await.unwrap();
                let repodata: serde_json::Value =
                    serde_json::from_slice(&body).unwrap_or_else(|e| {
                        panic!("{location}/{subdir}/repodata.json does not parse: {e}")
                    });
                assert_eq!(repodata["info"]["subdir"], subdir);
            });
        }
        tokio::time::timeout(Duration::from_secs(60), async {
            while let Some(done) = tasks.join_next().await {
                done.unwrap();
            }
        })
        .await
        .expect("the load finished within 60 s");
    });

    for location in LOCATIONS {
        let mut listed = Vec::new();
        for subdir in ["noarch", "linux-64"] {
            let reply = request(
                "GET",
                &format!("{}{location}/{subdir}/repodata.json", server.url),
                &[],
                None,
            );
            if reply.status == 404 && location.contains("label") && subdir == "linux-64" {
                continue;
            }
            let repodata: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
            for key in ["packages", "packages.conda"] {
                for (file, record) in repodata[key].as_object().unwrap() {
                    listed.push((
                        format!("{subdir}/{file}"),
                        record["sha256"].as_str().unwrap().to_string(),
                    ));
                }
            }
            let shards = request(
                "GET",
                &format!(
                    "{}{location}/{subdir}/repodata_shards.msgpack.zst",
                    server.url
                ),
                &[],
                None,
            );
            let shards: rattler_conda_types::ShardedRepodata =
                rmp_serde::from_slice(&zstd::decode_all(shards.body.as_slice()).unwrap()).unwrap();
            let mut names: Vec<&String> = shards.shards.keys().collect();
            names.sort();
            let mut expected: Vec<String> = listed
                .iter()
                .filter(|(file, _)| file.starts_with(subdir))
                .map(|(file, _)| {
                    file.split('/')
                        .nth(1)
                        .unwrap()
                        .split('-')
                        .next()
                        .unwrap()
                        .to_string()
                })
                .collect();
            expected.sort();
            assert_eq!(
                names,
                expected.iter().collect::<Vec<_>>(),
                "{location}/{subdir} shard index"
            );
        }
        listed.sort();
        let mut expected: Vec<(String, String)> = uploads
            .iter()
            .filter(|(at, _, _)| at == location)
            .map(|(_, target, bytes)| (target.clone(), sha256_hex(bytes)))
            .collect();
        if location == "/a" {
            expected.push(("linux-64/old2-1.0-h0_0.conda".into(), String::new()));
        }
        expected.sort();
        let files = |v: &[(String, String)]| v.iter().map(|(f, _)| f.clone()).collect::<Vec<_>>();
        assert_eq!(
            files(&listed),
            files(&expected),
            "{location}: uploads listed, deletions gone"
        );
        for ((_, got), (_, sent)) in listed.iter().zip(&expected) {
            assert!(
                sent.is_empty() || got == sent,
                "{location}: sha256 of what was sent"
            );
        }
    }
}
