//! `krait serve` as a channel for `krait search` and py-rattler, `krait upload` into it, and
//! the HTTP behaviour conda clients rely on (ETag, conditional GET, Range, gzip, zst).

mod common;

use common::fixtures::{Format, Package};
use common::serve::{py_rattler_solve as solve, request, token_file, Server};
use common::sha256_hex;
use common::{condarc_with_http_proxy, krait, run_err, run_ok};
use std::path::Path;

fn fixture_channel(root: &Path) {
    Package::new("libfoo", "1.0", "h0_0", "linux-64").write(root, Format::Conda);
    Package::new("libfoo", "1.5", "h0_0", "linux-64").write(root, Format::TarBz2);
    Package::new("bar", "2.0", "0", "noarch")
        .depends(&["libfoo >=1,<2"])
        .write(root, Format::TarBz2);
}

fn search_json(home: &Path, channel_url: &str, spec: &str) -> serde_json::Value {
    let out = run_ok(krait(home).args([
        "search",
        "--override-channels",
        "-c",
        channel_url,
        "--platform",
        "linux-64",
        "--json",
        spec,
    ]));
    serde_json::from_str(&out).unwrap()
}

#[test]
fn krait_search_and_py_rattler_use_a_served_channel() {
    let tmp = tempfile::tempdir().unwrap();
    let channel = tmp.path().join("channel");
    fixture_channel(&channel);
    // Not indexed beforehand: serve indexes at start.
    let server = Server::start(tmp.path(), &channel, &[]);
    let found = search_json(tmp.path(), &server.url, "libfoo");
    let versions: Vec<&str> = found["libfoo"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["version"].as_str().unwrap())
        .collect();
    assert_eq!(versions, ["1.0", "1.5"]);
    assert!(found["libfoo"][0]["url"]
        .as_str()
        .unwrap()
        .starts_with(&server.url));
    assert_eq!(
        solve(tmp.path(), &server.url, "bar"),
        ["bar-2.0-0.tar.bz2", "libfoo-1.5-h0_0.tar.bz2"]
    );
}

#[test]
fn uploads_with_the_write_token_become_searchable_with_the_read_token() {
    let tmp = tempfile::tempdir().unwrap();
    let channel = tmp.path().join("channel");
    fixture_channel(&channel);
    let read = token_file(tmp.path(), "read.token", "reader-secret");
    let write = token_file(tmp.path(), "write.token", "writer-secret");
    let server = Server::start(
        tmp.path(),
        &channel,
        &[
            "--read-token-file",
            read.to_str().unwrap(),
            "--write-token-file",
            write.to_str().unwrap(),
        ],
    );
    let dist = tmp.path().join("dist");
    let new_noarch = Package::new("newpkg", "3.1", "py_0", "noarch")
        .depends(&["libfoo"])
        .write(&dist, Format::Conda);
    let new_linux = Package::new("newlib", "0.2", "h1_1", "linux-64").write(&dist, Format::TarBz2);

    let out = run_ok(krait(tmp.path()).args([
        "upload",
        new_noarch.to_str().unwrap(),
        new_linux.to_str().unwrap(),
        "--to",
        &server.url,
        "--token-file",
        write.to_str().unwrap(),
        "--json",
    ]));
    let uploaded: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(uploaded[0]["target"], "noarch/newpkg-3.1-py_0.conda");
    assert_eq!(uploaded[1]["target"], "linux-64/newlib-0.2-h1_1.tar.bz2");
    let sent = std::fs::read(&new_noarch).unwrap();
    assert_eq!(
        std::fs::read(channel.join("noarch/newpkg-3.1-py_0.conda")).unwrap(),
        sent
    );

    // Without the token the channel is closed; conda's /t/<token>/ form opens it.
    let err = run_err(krait(tmp.path()).args([
        "search",
        "--override-channels",
        "-c",
        &server.url,
        "newpkg",
    ]));
    assert!(err.contains("401"), "{err}");
    let with_token = format!("{}/t/reader-secret", server.url);
    let found = search_json(tmp.path(), &with_token, "newpkg");
    assert_eq!(found["newpkg"][0]["sha256"], sha256_hex(&sent));
    assert_eq!(found["newpkg"][0]["depends"][0], "libfoo");
    assert_eq!(
        solve(tmp.path(), &with_token, "newpkg"),
        ["libfoo-1.5-h0_0.tar.bz2", "newpkg-3.1-py_0.conda"]
    );
    let found = search_json(tmp.path(), &with_token, "newlib");
    assert_eq!(found["newlib"][0]["subdir"], "linux-64");

    // `krait create` downloads the uploaded package through the token URL and installs it.
    let prefix = tmp.path().join("env");
    run_ok(krait(tmp.path()).args([
        "create",
        "-y",
        "-p",
        prefix.to_str().unwrap(),
        "--override-channels",
        "-c",
        &with_token,
        "--platform",
        "linux-64",
        "newpkg",
    ]));
    assert_eq!(
        std::fs::read_to_string(prefix.join("share/newpkg/README")).unwrap(),
        "newpkg 3.1\n"
    );
    assert!(prefix.join("share/libfoo/README").is_file());

    // A token configured for the channel in .condarc is sent as Authorization: Bearer.
    let configured = tmp.path().join("configured-home");
    std::fs::create_dir_all(&configured).unwrap();
    std::fs::write(
        configured.join(".condarc"),
        format!("channel_tokens:\n  {}/: reader-secret\n", server.url),
    )
    .unwrap();
    let found = search_json(&configured, &server.url, "newpkg");
    assert_eq!(found["newpkg"][0]["sha256"], sha256_hex(&sent));

    // Uploading the same file again is refused unless forced.
    let err = run_err(krait(tmp.path()).args([
        "upload",
        new_noarch.to_str().unwrap(),
        "--to",
        &server.url,
        "--token",
        "writer-secret",
    ]));
    assert!(
        err.contains("already exists") && err.contains("409"),
        "{err}"
    );
    run_ok(krait(tmp.path()).args([
        "upload",
        new_noarch.to_str().unwrap(),
        "--to",
        &format!("{}/t/writer-secret/", server.url),
        "--force",
    ]));
}

#[test]
fn upload_into_a_folder_copies_and_indexes() {
    let tmp = tempfile::tempdir().unwrap();
    let channel = tmp.path().join("channel");
    fixture_channel(&channel);
    run_ok(krait(tmp.path()).arg("index").arg(&channel));
    let dist = tmp.path().join("dist");
    let archive = Package::new("folderpkg", "1.0", "0", "noarch").write(&dist, Format::Conda);
    run_ok(krait(tmp.path()).args([
        "upload",
        archive.to_str().unwrap(),
        "--to",
        channel.to_str().unwrap(),
    ]));
    let found = search_json(tmp.path(), channel.to_str().unwrap(), "folderpkg");
    assert_eq!(
        found["folderpkg"][0]["sha256"],
        sha256_hex(&std::fs::read(&archive).unwrap())
    );
    let err = run_err(krait(tmp.path()).args([
        "upload",
        archive.to_str().unwrap(),
        "--to",
        channel.to_str().unwrap(),
    ]));
    assert!(err.contains("already exists"), "{err}");
    // A file that is not a package is refused before anything is written.
    let bogus = dist.join("bogus-1.0-0.conda");
    std::fs::write(&bogus, b"not a zip").unwrap();
    let err = run_err(krait(tmp.path()).args([
        "upload",
        bogus.to_str().unwrap(),
        "--to",
        channel.to_str().unwrap(),
    ]));
    assert!(err.contains("not a valid package"), "{err}");
    assert!(!channel.join("noarch/bogus-1.0-0.conda").exists());
}

#[test]
fn downloads_have_etags_ranges_gzip_and_zst() {
    let tmp = tempfile::tempdir().unwrap();
    let channel = tmp.path().join("channel");
    fixture_channel(&channel);
    let server = Server::start(tmp.path(), &channel, &[]);
    let archive_url = format!("{}/linux-64/libfoo-1.0-h0_0.conda", server.url);
    let on_disk = std::fs::read(channel.join("linux-64/libfoo-1.0-h0_0.conda")).unwrap();

    let full = request("GET", &archive_url, &[], None);
    assert_eq!(full.status, 200);
    assert_eq!(full.body, on_disk);
    let etag = full.header("etag").expect("an ETag").to_string();
    let last_modified = full
        .header("last-modified")
        .expect("Last-Modified")
        .to_string();
    assert_eq!(
        request("GET", &archive_url, &[("if-none-match", &etag)], None).status,
        304
    );
    assert_eq!(
        request(
            "GET",
            &archive_url,
            &[("if-modified-since", &last_modified)],
            None
        )
        .status,
        304
    );
    let part = request("GET", &archive_url, &[("range", "bytes=10-19")], None);
    assert_eq!(part.status, 206);
    assert_eq!(part.body, on_disk[10..20]);
    // A second plain GET is answered from the server's memory: the same bytes, and the headers
    // ServeDir gives a HEAD of the file.
    let again = request("GET", &archive_url, &[], None);
    assert_eq!(again.body, on_disk);
    let head = request("HEAD", &archive_url, &[], None);
    for name in [
        "content-type",
        "content-length",
        "last-modified",
        "etag",
        "accept-ranges",
    ] {
        assert_eq!(again.header(name), head.header(name), "{name}");
    }
    // Replaced on disk, by a rename as uploads do: the new bytes go out, with a new ETag.
    let replacement = channel.join("linux-64/.replacement");
    std::fs::write(&replacement, b"the replaced archive").unwrap();
    std::fs::rename(&replacement, channel.join("linux-64/libfoo-1.0-h0_0.conda")).unwrap();
    let replaced = request("GET", &archive_url, &[], None);
    assert_eq!(replaced.body, b"the replaced archive");
    assert_ne!(replaced.header("etag"), Some(etag.as_str()));

    let repodata_url = format!("{}/linux-64/repodata.json", server.url);
    let gz = request("GET", &repodata_url, &[("accept-encoding", "gzip")], None);
    assert_eq!(gz.status, 200);
    assert_eq!(gz.header("content-encoding"), Some("gzip"));
    let mut plain = String::new();
    std::io::Read::read_to_string(
        &mut flate2::read::GzDecoder::new(gz.body.as_slice()),
        &mut plain,
    )
    .unwrap();
    let repodata: serde_json::Value = serde_json::from_str(&plain).unwrap();
    assert!(repodata["packages.conda"]["libfoo-1.0-h0_0.conda"].is_object());

    let zst = request("GET", &format!("{repodata_url}.zst"), &[], None);
    assert_eq!(zst.status, 200);
    let unpacked = zstd::decode_all(zst.body.as_slice()).unwrap();
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&unpacked).unwrap(),
        repodata
    );
    // The index's private records are not served.
    let hidden = request(
        "GET",
        &format!("{}/.cache/krait-index/linux-64.json", server.url),
        &[],
        None,
    );
    assert_eq!(hidden.status, 404);
    // (More in serve_security.rs.)
    for (escaping, status) in [
        ("/%2e%2e/read.token", 404),
        ("/noarch/%2E%2E%2F%2E%2E%2Fread.token", 400),
    ] {
        let reply = request("GET", &format!("{}{escaping}", server.url), &[], None);
        assert_eq!(reply.status, status, "{escaping}");
    }
}

#[test]
fn uploads_go_through_the_proxy_proxy_servers_names() {
    let tmp = tempfile::tempdir().unwrap();
    let channel = tmp.path().join("channel");
    fixture_channel(&channel);
    let write = token_file(tmp.path(), "write.token", "writer-secret");
    let server = Server::start(
        tmp.path(),
        &channel,
        &["--write-token-file", write.to_str().unwrap()],
    );
    let archive = Package::new("proxied", "1.0", "0", "noarch")
        .write(&tmp.path().join("dist"), Format::Conda);
    // The server answers absolute-form requests by their path, so it stands in for the proxy
    // of a host that does not resolve: the upload arrives only through proxy_servers.
    let home = tmp.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    condarc_with_http_proxy(&home, &server.url);
    let upload = |home: &Path| {
        let mut cmd = krait(home);
        cmd.arg("upload")
            .arg(&archive)
            .args(["--to", "http://channel.invalid/", "--token-file"])
            .arg(&write);
        cmd
    };
    run_ok(&mut upload(&home));
    assert_eq!(
        std::fs::read(channel.join("noarch/proxied-1.0-0.conda")).unwrap(),
        std::fs::read(&archive).unwrap()
    );
    let direct = tmp.path().join("direct");
    std::fs::create_dir_all(&direct).unwrap();
    let err = run_err(&mut upload(&direct));
    assert!(err.contains("channel.invalid"), "{err}");
}

#[test]
fn serves_https_with_the_certificate_it_is_given() {
    let tmp = tempfile::tempdir().unwrap();
    let channel = tmp.path().join("channel");
    fixture_channel(&channel);
    let rcgen::CertifiedKey { cert, signing_key } =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
    let cert_file = tmp.path().join("cert.pem");
    let key_file = tmp.path().join("key.pem");
    std::fs::write(&cert_file, cert.pem()).unwrap();
    std::fs::write(&key_file, signing_key.serialize_pem()).unwrap();
    let tls = [
        "--tls-cert",
        cert_file.to_str().unwrap(),
        "--tls-key",
        key_file.to_str().unwrap(),
    ];
    let server = Server::start(tmp.path(), &channel, &tls);
    assert!(
        server.url.starts_with("https://127.0.0.1:"),
        "{}",
        server.url
    );

    // A client trusting the certificate through ssl_verify reads the channel.
    let trusting = tmp.path().join("trusting");
    std::fs::create_dir_all(&trusting).unwrap();
    std::fs::write(
        trusting.join(".condarc"),
        format!("ssl_verify: {}\n", cert_file.display()),
    )
    .unwrap();
    let found = search_json(&trusting, &server.url, "bar");
    assert_eq!(found["bar"][0]["version"], "2.0");
    // One that does not is refused.
    let err = run_err(krait(tmp.path()).args([
        "search",
        "--override-channels",
        "-c",
        &server.url,
        "bar",
    ]));
    assert!(err.contains("certificate"), "{err}");

    // A key that is not the certificate's stops the server before it serves.
    let stranger = tmp.path().join("stranger.pem");
    std::fs::write(
        &stranger,
        rcgen::KeyPair::generate().unwrap().serialize_pem(),
    )
    .unwrap();
    let err = run_err(
        krait(tmp.path())
            .arg("serve")
            .arg(&channel)
            .args(["--addr", "127.0.0.1:0", "--tls-cert"])
            .arg(&cert_file)
            .arg("--tls-key")
            .arg(&stranger),
    );
    assert!(
        err.contains("stranger.pem") && err.contains("does not fit"),
        "{err}"
    );
}
