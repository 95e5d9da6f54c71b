//! Refused uploads to `krait serve`: bad or missing tokens, hostile paths, wrong subdirs,
//! bodies that are not archives, oversized and truncated bodies. Each is refused with a
//! status and a message that says why, and leaves the channel byte-for-byte unchanged.

mod common;
mod serve_support;

use common::fixtures::{Format, Package};
use serve_support::{request, sha256_hex, snapshot, token_file, Reply, Server};
use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::path::Path;

const READ_TOKEN: &str = "read-0123456789";
const WRITE_TOKEN: &str = "write-0123456789";

fn start(tmp: &Path, channel: &Path) -> Server {
    Package::new("existing", "1.0", "0", "noarch").write(channel, Format::Conda);
    let read = token_file(tmp, "read.token", READ_TOKEN);
    let write = token_file(tmp, "write.token", WRITE_TOKEN);
    Server::start(
        tmp,
        channel,
        &[
            "--read-token-file",
            read.to_str().unwrap(),
            "--write-token-file",
            write.to_str().unwrap(),
            "--max-upload-mib",
            "1",
        ],
    )
}

fn put(server: &Server, target: &str, token: Option<&str>, body: Vec<u8>) -> Reply {
    let auth = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("authorization", a.as_str())).collect();
    request(
        "PUT",
        &format!("{}/api/upload/{target}", server.url),
        &headers,
        Some(body),
    )
}

/// Sends raw bytes (paths exactly as written, bodies cut short) and returns the reply text.
fn raw(server: &Server, head: &str, body: &[u8], cut_short: bool) -> String {
    let addr = server.url.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    if cut_short {
        stream.shutdown(Shutdown::Write).unwrap();
    }
    let mut reply = String::new();
    let _ = stream.read_to_string(&mut reply);
    reply
}

fn assert_refused(reply: &Reply, status: u16, needle: &str) {
    assert_eq!(reply.status, status, "{}", reply.text());
    assert!(
        reply.text().contains(needle),
        "expected {needle:?} in {:?}",
        reply.text()
    );
}

#[test]
fn refused_uploads_leave_the_channel_unchanged() {
    let tmp = tempfile::tempdir().unwrap();
    let channel = tmp.path().join("channel");
    let server = start(tmp.path(), &channel);
    let before = snapshot(&channel);
    let dist = tmp.path().join("dist");
    let good =
        std::fs::read(Package::new("good", "1.0", "0", "noarch").write(&dist, Format::Conda))
            .unwrap();
    let target = "noarch/good-1.0-0.conda";

    // Tokens.
    assert_refused(
        &put(&server, target, None, good.clone()),
        401,
        "write token",
    );
    assert_refused(
        &put(&server, target, Some("not-the-token"), good.clone()),
        401,
        "invalid token",
    );
    assert_refused(
        &put(&server, target, Some(READ_TOKEN), good.clone()),
        403,
        "may read but not upload",
    );
    let read_in_path = request(
        "PUT",
        &format!("{}/t/{READ_TOKEN}/api/upload/{target}", server.url),
        &[],
        Some(good.clone()),
    );
    assert_refused(&read_in_path, 403, "may read but not upload");

    // Paths.
    let w = Some(WRITE_TOKEN);
    for hostile in [
        "noarch/..%2F..%2Fgood-1.0-0.conda",
        "noarch/%2Ftmp%2Fgood-1.0-0.conda",
        "%2Ftmp%2Fgood-1.0-0.conda",
        "noarch/.good-1.0-0.conda",
        "no-such-subdir/good-1.0-0.conda",
    ] {
        let reply = put(&server, hostile, w, good.clone());
        assert_eq!(reply.status, 400, "{hostile}: {}", reply.text());
        assert!(reply.text().starts_with("error: "), "{}", reply.text());
    }
    let dotdot = raw(
        &server,
        &format!(
            "PUT /api/upload/noarch/../../good-1.0-0.conda HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {WRITE_TOKEN}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            good.len()
        ),
        &good,
        false,
    );
    assert!(dotdot.starts_with("HTTP/1.1 400"), "{dotdot}");
    assert!(dotdot.contains("exactly <subdir>/<file name>"), "{dotdot}");

    // Content.
    assert_refused(
        &put(&server, "linux-64/good-1.0-0.conda", w, good.clone()),
        422,
        "subdir \"noarch\" but the archive is in linux-64/",
    );
    assert_refused(
        &put(&server, "noarch/other-1.0-0.conda", w, good.clone()),
        422,
        "but the file name says other-1.0-0",
    );
    assert_refused(
        &put(&server, target, w, b"<html>not a package</html>".to_vec()),
        422,
        "not a valid package",
    );
    assert_refused(
        &put(&server, target, w, vec![7u8; 8 * 1024 * 1024]),
        413,
        "larger than this server's limit",
    );
    let mismatch = request(
        "PUT",
        &format!("{}/api/upload/{target}", server.url),
        &[
            ("authorization", &format!("Bearer {WRITE_TOKEN}")),
            ("x-content-sha256", &sha256_hex(b"something else")),
        ],
        Some(good.clone()),
    );
    assert_refused(&mismatch, 400, "sha256 mismatch");
    let truncated = raw(
        &server,
        &format!(
            "PUT /api/upload/{target} HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {WRITE_TOKEN}\r\ncontent-length: {}\r\n\r\n",
            good.len()
        ),
        &good[..good.len() / 2],
        true,
    );
    assert!(truncated.starts_with("HTTP/1.1 400"), "{truncated}");
    assert!(truncated.contains("cut short"), "{truncated}");

    assert!(
        before == snapshot(&channel),
        "a refused upload changed the channel"
    );
    assert!(!tmp.path().join("good-1.0-0.conda").exists());
    assert!(!Path::new("/tmp/good-1.0-0.conda").exists());

    // The same archive, properly sent, is accepted; a second time it conflicts.
    let ok = put(&server, target, w, good.clone());
    assert_eq!(ok.status, 201, "{}", ok.text());
    assert_refused(&put(&server, target, w, good.clone()), 409, "?force=true");
    assert_eq!(std::fs::read(channel.join(target)).unwrap(), good);
}

#[test]
fn reads_need_the_read_token_when_one_is_set() {
    let tmp = tempfile::tempdir().unwrap();
    let channel = tmp.path().join("channel");
    let server = start(tmp.path(), &channel);
    let path = "noarch/repodata.json";
    let open = request("GET", &format!("{}/{path}", server.url), &[], None);
    assert_eq!(open.status, 401);
    assert_eq!(
        open.header("www-authenticate"),
        Some("Bearer realm=\"krait\"")
    );
    let wrong = request("GET", &format!("{}/t/nope/{path}", server.url), &[], None);
    assert_eq!(wrong.status, 401);
    for token in [READ_TOKEN, WRITE_TOKEN] {
        let in_path = request(
            "GET",
            &format!("{}/t/{token}/{path}", server.url),
            &[],
            None,
        );
        assert_eq!(in_path.status, 200);
        let bearer = request(
            "GET",
            &format!("{}/{path}", server.url),
            &[("authorization", &format!("Bearer {token}"))],
            None,
        );
        assert_eq!(bearer.status, 200);
        assert_eq!(bearer.body, in_path.body);
    }
}

#[test]
fn a_server_without_a_write_token_refuses_every_upload() {
    let tmp = tempfile::tempdir().unwrap();
    let channel = tmp.path().join("channel");
    Package::new("existing", "1.0", "0", "noarch").write(&channel, Format::Conda);
    let server = Server::start(tmp.path(), &channel, &[]);
    let before = snapshot(&channel);
    let good = std::fs::read(
        Package::new("good", "1.0", "0", "noarch").write(&tmp.path().join("dist"), Format::Conda),
    )
    .unwrap();
    let reply = put(&server, "noarch/good-1.0-0.conda", Some("anything"), good);
    assert_refused(&reply, 403, "uploads are disabled");
    assert!(before == snapshot(&channel));
}
