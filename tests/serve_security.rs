//! Attacks on `krait serve`. Reads: percent-encoded separators, `..`, NUL and hidden names in
//! every branch that answers (the in-memory archive copies, `If-None-Match`, `ServeDir`),
//! directory listings; none reveals a byte (or the existence) of a file outside the channel.
//! Uploads: bad or missing tokens, hostile paths, wrong subdirs, bodies that are not archives
//! or whose content is damaged, oversized (Content-Length and chunked) and truncated bodies;
//! each is refused with a status and a message that says why, and leaves the channel
//! byte-for-byte unchanged. Slow and many clients: half-sent headers, stalled bodies, more
//! connections than the limit.

mod common;

use common::fixtures::{damaged_content, Format, Package};
use common::serve::{request, snapshot, token_file, Reply, Server};
use common::sha256_hex;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

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
    let mut reply = Vec::new();
    let _ = stream.read_to_end(&mut reply);
    String::from_utf8_lossy(&reply).into_owned()
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

    // Paths, sent exactly as written (an HTTP client library would resolve `%2e%2e`).
    let w = Some(WRITE_TOKEN);
    for hostile in [
        "noarch/..%2F..%2Fgood-1.0-0.conda",
        "noarch/%2e%2e%2fgood-1.0-0.conda",
        "noarch/%2E%2E/good-1.0-0.conda",
        "%2e%2e/noarch/good-1.0-0.conda",
        "noarch/..%5c..%5cgood-1.0-0.conda",
        "noarch/good-1.0-0.conda%00.txt",
        "noarch/%2Ftmp%2Fgood-1.0-0.conda",
        "%2Ftmp%2Fgood-1.0-0.conda",
        "noarch//good-1.0-0.conda",
        "noarch/.good-1.0-0.conda",
        "no-such-subdir/good-1.0-0.conda",
    ] {
        let reply = raw(
            &server,
            &format!(
                "PUT /api/upload/{hostile} HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {WRITE_TOKEN}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                good.len()
            ),
            &good,
            false,
        );
        assert!(reply.starts_with("HTTP/1.1 400"), "{hostile}: {reply}");
        assert!(reply.contains("\r\n\r\nerror: "), "{hostile}: {reply}");
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
    assert!(
        dotdot.contains("not a plain file or folder name"),
        "{dotdot}"
    );

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
    // A valid zip and info/, with damaged content: refused naming the member.
    let damaged = damaged_content(&dist.join(target));
    assert_refused(
        &put(&server, target, w, damaged),
        422,
        "pkg-good-1.0-0.tar.zst",
    );
    assert_refused(
        &put(&server, target, w, good[..good.len() - 200].to_vec()),
        422,
        "not a valid package",
    );
    assert_refused(
        &put(&server, target, w, vec![7u8; 8 * 1024 * 1024]),
        413,
        "larger than this server's limit",
    );
    // The same, sent chunked: no Content-Length to refuse up front.
    let mut chunked = Vec::new();
    for _ in 0..32 {
        chunked.extend_from_slice(format!("{:x}\r\n", 64 * 1024).as_bytes());
        chunked.extend_from_slice(&[7u8; 64 * 1024]);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let oversized = raw(
        &server,
        &format!(
            "PUT /api/upload/{target} HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {WRITE_TOKEN}\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n"
        ),
        &chunked,
        false,
    );
    assert!(oversized.starts_with("HTTP/1.1 413"), "{oversized}");
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
    // Wrong, empty, a prefix of the token, the token with more after it, in the path or
    // in the header.
    for token in ["nope", "", &READ_TOKEN[..5], &format!("{READ_TOKEN}0")] {
        let in_path = request(
            "GET",
            &format!("{}/t/{token}/{path}", server.url),
            &[],
            None,
        );
        assert_eq!(in_path.status, 401, "{token:?}");
        let bearer = request(
            "GET",
            &format!("{}/{path}", server.url),
            &[("authorization", &format!("Bearer {token}"))],
            None,
        );
        assert_eq!(bearer.status, 401, "{token:?}");
    }
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

/// The status code of a raw reply.
fn status(reply: &str) -> &str {
    reply.split(' ').nth(1).unwrap_or("")
}

#[test]
fn reads_never_reach_outside_the_channel() {
    // No hidden (`.tmp...`) folder on the way: the paths below must name plain folders.
    let tmp = tempfile::Builder::new()
        .prefix("krait-serve-reads-")
        .tempdir()
        .unwrap();
    let channel = tmp.path().join("channel");
    let server = start(tmp.path(), &channel);
    // Next to the channel: one file named like an archive (the in-memory copies serve those),
    // one not (its existence alone is what If-None-Match would reveal).
    let outside = tmp.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    let archive = outside.join("secret-1.0-0.conda");
    std::fs::write(&archive, "SECRET-ARCHIVE").unwrap();
    let shadow = outside.join("shadow");
    std::fs::write(&shadow, "SECRET-SHADOW").unwrap();
    let encoded = |path: &Path| path.to_str().unwrap().replace('/', "%2F");
    let t = format!("/t/{READ_TOKEN}");
    let attacks = [
        // Absolute paths through %2F: the in-memory copy, ServeDir (a Range), the 304.
        (format!("{t}/{}", encoded(&archive)), ""),
        (format!("{t}/{}", encoded(&archive)), "range: bytes=0-5\r\n"),
        (format!("{t}/{}", encoded(&shadow)), "if-none-match: *\r\n"),
        (
            format!("{t}/noarch/{}", encoded(&shadow)),
            "if-none-match: *\r\n",
        ),
        (
            format!("{t}//{}", archive.to_str().unwrap().trim_start_matches('/')),
            "",
        ),
        // Climbing out, however it is spelled.
        (format!("{t}/noarch/../../outside/secret-1.0-0.conda"), ""),
        (
            format!("{t}/noarch/..%2F..%2Foutside%2Fsecret-1.0-0.conda"),
            "",
        ),
        (
            format!("{t}/noarch/%2e%2e/%2e%2e/outside/secret-1.0-0.conda"),
            "",
        ),
        (
            format!("{t}/noarch/%2E%2E%2F%2E%2E%2Foutside/shadow"),
            "if-none-match: *\r\n",
        ),
        (
            format!("{t}/noarch/..%5c..%5coutside%5csecret-1.0-0.conda"),
            "",
        ),
        (format!("{t}/noarch/existing-1.0-0.conda%00.txt"), ""),
        // Hidden entries and listings.
        (format!("{t}/.cache/krait-index/noarch.json"), ""),
        (format!("{t}/%2ecache/krait-index/noarch.json"), ""),
        (format!("{t}/"), ""),
        (format!("{t}/noarch/"), ""),
        (format!("{t}/noarch"), ""),
    ];
    for (path, extra) in &attacks {
        let reply = raw(
            &server,
            &format!("GET {path} HTTP/1.1\r\nhost: x\r\n{extra}connection: close\r\n\r\n"),
            b"",
            false,
        );
        assert!(
            ["400", "404"].contains(&status(&reply)),
            "{path} ({extra:?}) was answered: {reply}"
        );
        assert!(!reply.contains("SECRET"), "{path}: {reply}");
        assert!(
            !reply.to_ascii_lowercase().contains("etag"),
            "{path}: {reply}"
        );
        assert!(
            path.contains("existing") || !reply.contains("existing-1.0-0"),
            "{path} lists the channel: {reply}"
        );
    }
    // The channel's own files are served, their names percent-encoded or not.
    for path in [
        format!("{t}/noarch/existing-1.0-0.conda"),
        format!("{t}/noarch/existing%2D1.0-0.conda"),
        format!("{t}/noarch/repodata.json"),
    ] {
        let reply = raw(
            &server,
            &format!("GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"),
            b"",
            false,
        );
        assert_eq!(status(&reply), "200", "{path}: {reply}");
    }
}

#[test]
fn slow_and_many_clients_do_not_hold_the_server() {
    let tmp = tempfile::tempdir().unwrap();
    let channel = tmp.path().join("channel");
    Package::new("existing", "1.0", "0", "noarch").write(&channel, Format::Conda);
    let write = token_file(tmp.path(), "write.token", WRITE_TOKEN);
    let server = Server::start(
        tmp.path(),
        &channel,
        &[
            "--write-token-file",
            write.to_str().unwrap(),
            "--max-connections",
            "600",
            "--header-timeout",
            "3",
            "--idle-timeout",
            "2",
        ],
    );
    let addr = server.url.trim_start_matches("http://").to_string();
    let repodata = format!("{}/noarch/repodata.json", server.url);
    // 500 connections that send half a request head and then nothing.
    let half_sent: Vec<TcpStream> = (0..500)
        .map(|_| {
            let mut stream = TcpStream::connect(&addr).unwrap();
            stream
                .write_all(b"GET /noarch/repodata.json HTTP/1.1\r\nhost: x\r\nx-slow: ")
                .unwrap();
            stream
        })
        .collect();
    let asked = Instant::now();
    let reply = request("GET", &repodata, &[], None);
    assert_eq!(reply.status, 200);
    assert!(
        asked.elapsed() < Duration::from_secs(2),
        "answered only after {:?}",
        asked.elapsed()
    );
    // Past the limit (500 + 100 held), a connection is told to come back.
    let mut more: Vec<TcpStream> = Vec::new();
    for _ in 0..100 {
        let mut stream = TcpStream::connect(&addr).unwrap();
        stream.write_all(b"GET / HTTP/1.1\r\n").unwrap();
        more.push(stream);
    }
    std::thread::sleep(Duration::from_millis(300));
    let busy = raw(
        &server,
        "GET /noarch/repodata.json HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
        b"",
        false,
    );
    assert!(busy.starts_with("HTTP/1.1 503"), "{busy}");
    assert!(busy.contains("too many connections"), "{busy}");
    drop(more);
    std::thread::sleep(Duration::from_millis(300));
    // An upload whose body stops arriving: answered after the idle timeout.
    let mut stalled = TcpStream::connect(&addr).unwrap();
    stalled
        .write_all(
            format!(
                "PUT /api/upload/noarch/late-1.0-0.conda HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {WRITE_TOKEN}\r\ncontent-length: 100000\r\n\r\n"
            )
            .as_bytes(),
        )
        .unwrap();
    stalled.write_all(&[1u8; 1000]).unwrap();
    // After the header timeout, the server has closed every half-sent connection.
    std::thread::sleep(Duration::from_millis(3500).saturating_sub(asked.elapsed()));
    for mut stream in half_sent {
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut rest = Vec::new();
        let read = stream.read_to_end(&mut rest);
        assert!(
            !matches!(&read, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock || e.kind() == std::io::ErrorKind::TimedOut),
            "a half-sent request head still holds its connection"
        );
    }
    stalled
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut answer = String::new();
    let read = stalled.read_to_string(&mut answer);
    assert!(
        read.is_ok(),
        "a stalled upload body still holds its connection: {read:?}"
    );
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("cut short"), "{answer}");
    assert!(!channel.join("noarch/late-1.0-0.conda").exists());
    assert_eq!(request("GET", &repodata, &[], None).status, 200);
}

/// Channel and label names, deletions and promotions go through the same checks as paths: a
/// hostile channel, label or target is refused (or not found) and changes nothing, and the
/// read token may neither delete nor promote.
#[test]
fn channels_labels_deletions_and_copies_refuse_hostile_names() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    Package::new("existing", "1.0", "0", "noarch").write(&root.join("team"), Format::Conda);
    let read = token_file(tmp.path(), "read.token", READ_TOKEN);
    let write = token_file(tmp.path(), "write.token", WRITE_TOKEN);
    let server = Server::start(
        tmp.path(),
        &root,
        &[
            "--read-token-file",
            read.to_str().unwrap(),
            "--write-token-file",
            write.to_str().unwrap(),
        ],
    );
    std::fs::write(tmp.path().join("secret.conda"), b"outside every channel").unwrap();
    let before = snapshot(tmp.path());
    let w = format!("Bearer {WRITE_TOKEN}");
    let write = [("authorization", w.as_str())];
    for path in [
        "/%2e%2e/secret.conda",
        "/team/%2e%2e/secret.conda",
        "/team/label/%2e%2e/%2e%2e/secret.conda",
        "/team/label/..%2F..%2F/noarch/repodata.json",
        "/.krait-audit.jsonl",
        "/.cache/krait-index/noarch.json",
    ] {
        for method in ["GET", "DELETE"] {
            // Raw: an HTTP client would resolve the dot segments before sending.
            let head = format!(
                "{method} {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {WRITE_TOKEN}\r\nConnection: close\r\n\r\n"
            );
            let reply = raw(&server, &head, b"", false);
            assert!(
                ["400", "404"].contains(&status(&reply)),
                "{method} {path}: {reply}"
            );
        }
    }
    let target = "/team/noarch/existing-1.0-0.conda";
    let by_reader = request(
        "DELETE",
        &format!("{}{target}", server.url),
        &[("authorization", &format!("Bearer {READ_TOKEN}"))],
        None,
    );
    assert_refused(&by_reader, 403, "may read but not upload");
    let copy = |body: &str, auth: &[(&str, &str)]| {
        request(
            "POST",
            &format!("{}/team/api/copy", server.url),
            auth,
            Some(body.as_bytes().to_vec()),
        )
    };
    let hostile = r#"{"spec": "existing", "from_label": "main", "to_label": "../../x"}"#;
    assert_refused(&copy(hostile, &write), 400, "is not a label name");
    let escaping = r#"{"spec": "existing", "from_label": "%2e%2e", "to_label": "dev"}"#;
    assert_refused(&copy(escaping, &write), 400, "is not a label name");
    assert_refused(&copy("not json", &write), 400, "the copy request is not");
    assert_refused(&copy(hostile, &[]), 401, "needs the write token");
    // The upload into a label that names a parent is refused too.
    let head = format!(
        "PUT /team/label/%2e%2e/api/upload/noarch/x-1-0.conda HTTP/1.1\r\nHost: x\r\n\
         Authorization: Bearer {WRITE_TOKEN}\r\nContent-Length: 1\r\nConnection: close\r\n\r\n"
    );
    let labelled = raw(&server, &head, b"x", false);
    assert_eq!(status(&labelled), "400", "{labelled}");
    assert_eq!(snapshot(tmp.path()), before, "nothing changed on disk");
}
