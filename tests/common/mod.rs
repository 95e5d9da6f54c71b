//! Shared test support: real package archives, an isolated krait invocation, a loopback HTTP
//! server, and the peer-client Python from `scripts/test`'s venv.
#![allow(dead_code)] // each test binary uses a different part of this module

pub mod bootstrap;
pub mod fixtures;
pub mod python;
pub mod render;
pub mod serve;
pub mod shipped;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A krait command with its configuration isolated under `home` (HOME, caches, no CONDARC).
pub fn krait(home: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_krait"));
    cmd.env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env_remove("CONDARC")
        .env("KRAIT_PKGS_DIRS", home.join("pkgs"))
        .env("KRAIT_ENVS_DIRS", home.join("envs"))
        .env_remove("KRAIT_CHANNELS")
        .env_remove("KRAIT_OFFLINE");
    cmd
}

/// One test's temporary HOME and the channel made in it (after ripgrep's `tests/util.rs`
/// `setup`): `krait(setup.home())` runs isolated in it; everything goes when it is dropped.
pub struct Setup {
    dir: tempfile::TempDir,
    channel: PathBuf,
}

impl Setup {
    /// A fresh HOME, and the channel `make_channel` writes (and indexes) in it.
    pub fn new(make_channel: impl FnOnce(&Path) -> PathBuf) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let channel = make_channel(dir.path());
        Setup { dir, channel }
    }

    pub fn home(&self) -> &Path {
        self.dir.path()
    }

    pub fn channel(&self) -> &Path {
        &self.channel
    }
}

/// The hex sha256 of `bytes`, as repodata and the upload API spell it.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(rattler_digest::compute_bytes_digest::<rattler_digest::Sha256>(bytes))
}

/// Runs a command and returns its output, printing it when the test fails later.
pub fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("command runs");
    eprintln!(
        "$ {:?}\n--- stdout\n{}--- stderr\n{}",
        cmd,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Runs a command that must succeed; returns stdout.
pub fn run_ok(cmd: &mut Command) -> String {
    let out = run(cmd);
    assert!(out.status.success(), "command failed: {:?}", cmd);
    String::from_utf8(out.stdout).expect("utf-8 stdout")
}

/// Runs a command that must fail; returns stderr.
pub fn run_err(cmd: &mut Command) -> String {
    let out = run(cmd);
    assert!(
        !out.status.success(),
        "command unexpectedly succeeded: {:?}",
        cmd
    );
    String::from_utf8(out.stderr).expect("utf-8 stderr")
}

/// The venv Python that `scripts/test` installs the peer clients into.
pub fn peer_python() -> PathBuf {
    let python = std::env::var_os("KRAIT_TEST_PYTHON").unwrap_or_else(|| {
        panic!("KRAIT_TEST_PYTHON is not set: run the tests through scripts/test, which installs the peer clients")
    });
    PathBuf::from(python)
}

/// Runs a script from `tests/py/` with the peer Python.
pub fn peer_script(script: &str) -> Command {
    let mut cmd = Command::new(peer_python());
    cmd.arg(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/py")
            .join(script),
    );
    cmd
}

/// A static file server on 127.0.0.1 serving `root`, alive as long as the value is.
pub struct HttpServer {
    pub url: String,
    _runtime: tokio::runtime::Runtime,
}

/// How [`HttpServer::serve_faulty`] fails a request.
#[derive(Clone, Copy, PartialEq)]
pub enum Fault {
    /// `503 Service Unavailable`, as a restarting server or an overloaded proxy answers.
    Unavailable,
    /// No answer for 30 seconds, then a 503: a server that accepted the connection and hung.
    Hang,
    /// A package archive's `200 OK` whose body stops halfway (its `Content-Length` promised
    /// all of it), as a connection reset mid-download leaves it. Other paths are served whole.
    CutShort,
}

impl HttpServer {
    pub fn serve(root: &Path) -> HttpServer {
        HttpServer::serve_faulty(root, Fault::Unavailable, 0)
    }

    /// Like [`HttpServer::serve`], but fails the first `times` requests for every path with
    /// `fault`.
    pub fn serve_faulty(root: &Path, fault: Fault, times: usize) -> HttpServer {
        use axum::response::IntoResponse;
        use std::collections::HashMap;
        use std::sync::{Arc, Mutex};
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let root = root.to_path_buf();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(HashMap::<String, usize>::new()));
        let fail_first = move |request: axum::extract::Request, next: axum::middleware::Next| {
            let seen = seen.clone();
            async move {
                let path = request.uri().path().to_owned();
                let archive = path.ends_with(".conda") || path.ends_with(".tar.bz2");
                if fault == Fault::CutShort && !archive {
                    return next.run(request).await;
                }
                let count = {
                    let mut seen = seen.lock().unwrap();
                    let count = seen.entry(path).or_default();
                    *count += 1;
                    *count
                };
                if count > times {
                    return next.run(request).await;
                }
                match fault {
                    Fault::Unavailable => {
                        axum::http::StatusCode::SERVICE_UNAVAILABLE.into_response()
                    }
                    Fault::Hang => {
                        tokio::time::sleep(std::time::Duration::from_secs(30)).await;
                        axum::http::StatusCode::SERVICE_UNAVAILABLE.into_response()
                    }
                    Fault::CutShort => {
                        let (parts, body) = next.run(request).await.into_parts();
                        let whole = axum::body::to_bytes(body, usize::MAX).await.unwrap();
                        let half = whole.slice(..whole.len() / 2);
                        // The pause lets the headers and the first half reach the client
                        // before the connection breaks, so the break is mid-body.
                        let broken = futures::StreamExt::chain(
                            futures::stream::iter([Ok(half)]),
                            futures::stream::once(async {
                                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                                Err(std::io::Error::other("connection reset by the test"))
                            }),
                        );
                        axum::response::Response::from_parts(
                            parts,
                            axum::body::Body::from_stream(broken),
                        )
                    }
                }
            }
        };
        runtime.spawn(async move {
            let app = axum::Router::new()
                .fallback_service(tower_http::services::ServeDir::new(root))
                .layer(axum::middleware::from_fn(fail_first));
            axum::serve(listener, app).await.unwrap();
        });
        HttpServer {
            url: format!("http://{addr}"),
            _runtime: runtime,
        }
    }
}

/// Writes `home/.condarc` sending `http` requests through `proxy` and retrying after 50 ms;
/// returns its path.
pub fn condarc_with_http_proxy(home: &Path, proxy: &str) -> PathBuf {
    let condarc = home.join(".condarc");
    std::fs::write(
        &condarc,
        format!("remote_backoff_factor: 0.05\nproxy_servers:\n  http: {proxy}\n"),
    )
    .unwrap();
    condarc
}

/// An HTTPS static file server on 127.0.0.1 with a fresh self-signed certificate for that
/// address, alive as long as the value is.
pub struct TlsServer {
    pub url: String,
    /// The server's certificate (PEM), which a client must trust to connect.
    pub certificate_pem: String,
    _runtime: tokio::runtime::Runtime,
}

impl TlsServer {
    /// Serves through krait's own HTTPS accept loop (`krait serve --tls-cert`).
    pub fn serve(root: &Path) -> TlsServer {
        use krait::channel::serve_tls;
        let rcgen::CertifiedKey { cert, signing_key } =
            rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
        let pem_dir = tempfile::tempdir().unwrap();
        let files = serve_tls::TlsFiles {
            cert: pem_dir.path().join("cert.pem"),
            key: pem_dir.path().join("key.pem"),
        };
        std::fs::write(&files.cert, cert.pem()).unwrap();
        std::fs::write(&files.key, signing_key.serialize_pem()).unwrap();
        let acceptor = serve_tls::acceptor(&files).unwrap();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let app = axum::Router::new().fallback_service(tower_http::services::ServeDir::new(root));
        runtime.spawn(serve_tls::serve(
            listener,
            acceptor,
            app,
            krait::channel::serve_limits::Limits::default(),
            std::future::pending(),
        ));
        TlsServer {
            url: format!("https://{addr}"),
            certificate_pem: cert.pem(),
            _runtime: runtime,
        }
    }
}

/// `<CARGO_TARGET_TMPDIR>/<name>/channel`, which `make` fills the first time any test binary
/// asks for it: a file lock serialises the binaries, a `.done` marker records success and the
/// krait binary that made it (a rebuilt krait makes the fixture again, so tests never run on a
/// channel an older krait wrote). Keep what else the fixture is made from in `name` so that a
/// change makes a new one.
pub fn built_once(name: &str, make: impl FnOnce(&Path)) -> PathBuf {
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::create_dir_all(&root).unwrap();
    let lock = std::fs::File::create(root.join(".lock")).unwrap();
    lock.lock().unwrap();
    let channel = root.join("channel");
    let done = root.join(".done");
    let krait = std::fs::metadata(env!("CARGO_BIN_EXE_krait")).unwrap();
    let made_by = format!("{} {:?}", krait.len(), krait.modified().unwrap());
    if std::fs::read_to_string(&done).ok().as_deref() != Some(made_by.as_str()) {
        let _ = std::fs::remove_dir_all(&channel);
        make(&channel);
        std::fs::write(&done, made_by).unwrap();
    }
    channel
}

/// Copies a directory tree.
pub fn copy_dir(from: &Path, to: &Path) {
    for entry in walkdir::WalkDir::new(from) {
        let entry = entry.unwrap();
        let target = to.join(entry.path().strip_prefix(from).unwrap());
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}
