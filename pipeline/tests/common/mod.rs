//! Shared by the integration tests: the peer Python (for ImageHash, Pillow and the
//! scikit-image photos), the imgpipe binary, and an HTTP server on 127.0.0.1.

#![allow(dead_code)] // Each test binary uses its own part of this module.

pub mod engines;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Path as UrlPath, State as Shared};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use sha2::{Digest, Sha256};

/// The test venv's python, made by scripts/test.
pub fn python() -> PathBuf {
    let python = std::env::var_os("KRAIT_TEST_PYTHON").unwrap_or_else(|| {
        panic!(
            "KRAIT_TEST_PYTHON is not set: run scripts/test, which creates .venv-test with \
             ImageHash, Pillow and scikit-image (scripts/test-requirements.txt) and points \
             KRAIT_TEST_PYTHON at its python"
        )
    });
    PathBuf::from(python)
}

/// Runs the peer python with a script; panics with its stderr on failure.
pub fn run_python(args: &[&str]) -> String {
    let output = Command::new(python())
        .args(args)
        .output()
        .expect("run KRAIT_TEST_PYTHON");
    assert!(
        output.status.success(),
        "python {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("utf-8 output")
}

/// scikit-image's bundled photos (skimage/data) in the test venv.
pub fn skimage_data() -> PathBuf {
    let dir = run_python(&[
        "-c",
        "import skimage, os; print(os.path.join(os.path.dirname(skimage.__file__), 'data'))",
    ]);
    PathBuf::from(dir.trim())
}

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("pipeline/ is in the repo")
        .to_path_buf()
}

/// `name_sqlite` and `name_postgres` tests running `body` on each engine.
#[macro_export]
macro_rules! on_both_engines {
    ($body:ident: $sqlite:ident, $postgres:ident) => {
        #[test]
        fn $sqlite() {
            $body(Engine::Sqlite);
        }
        #[test]
        fn $postgres() {
            $body(Engine::Postgres);
        }
    };
}

/// The state engine a test runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

/// Where one pipeline keeps its state: a database (a SQLite file in `dir`, or a fresh database
/// of the test cluster) and a local body store in `dir/store`.
pub struct State {
    pub dir: PathBuf,
    pub db: String,
}

impl State {
    /// None when the engine is not installed and the test runs by hand (see `engines`).
    pub fn new(engine: Engine, dir: &Path) -> Option<State> {
        let db = match engine {
            Engine::Sqlite => dir.join("state.db").display().to_string(),
            Engine::Postgres => match engines::postgres() {
                Some(cluster) => cluster.database(),
                None => {
                    engines::unavailable(
                        "PostgreSQL (initdb under /usr/lib/postgresql) is not installed",
                    );
                    return None;
                }
            },
        };
        Some(State {
            dir: dir.to_path_buf(),
            db,
        })
    }

    pub fn store(&self) -> PathBuf {
        self.dir.join("store")
    }
}

pub fn imgpipe(state: &State) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_imgpipe"));
    command
        .arg("--db")
        .arg(&state.db)
        .arg("--store")
        .arg(state.store())
        .arg("--quiet");
    command
}

/// True when `imgpipe status --json` shows no stage with work queued or leased.
pub fn settled(status: &serde_json::Value) -> bool {
    status["stages"]
        .as_object()
        .unwrap()
        .values()
        .all(|stage| stage["queued"] == 0 && stage["leased"].as_array().unwrap().is_empty())
}

/// Runs imgpipe and returns its output, panicking with stderr when it fails.
pub fn ok(command: &mut Command) -> Output {
    let output = command.output().expect("run imgpipe");
    assert!(
        output.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

pub fn json(command: &mut Command) -> serde_json::Value {
    let output = ok(command.arg("--json"));
    serde_json::from_slice(&output.stdout).expect("imgpipe --json prints JSON")
}

/// A file server on 127.0.0.1 for the sample partners: `/images/...` from a folder (with ETag
/// and If-None-Match), `/status/<code>/...` answers that status, `/hang/...` never answers in
/// time. Every request can be slowed down by `delay`.
pub struct Server {
    pub base_url: String,
    pub requests: Arc<AtomicUsize>,
    /// Requests per `/images/` path.
    pub fetches: Arc<std::sync::Mutex<std::collections::HashMap<String, usize>>>,
    /// Most `/images/` requests this server had in flight at once.
    pub peak: Arc<AtomicUsize>,
    /// When each `/images/` request arrived and when its delay ended (the latency served).
    served: Arc<std::sync::Mutex<Vec<(Instant, Instant)>>>,
}

#[derive(Clone)]
struct ServerState {
    root: PathBuf,
    delay: Duration,
    requests: Arc<AtomicUsize>,
    fetches: Arc<std::sync::Mutex<std::collections::HashMap<String, usize>>>,
    inflight: Arc<AtomicUsize>,
    peak: Arc<AtomicUsize>,
    served: Arc<std::sync::Mutex<Vec<(Instant, Instant)>>>,
}

impl Server {
    pub fn start(root: &Path, delay: Duration) -> Server {
        let requests = Arc::new(AtomicUsize::new(0));
        let fetches = Arc::default();
        let peak = Arc::new(AtomicUsize::new(0));
        let served = Arc::default();
        let state = ServerState {
            root: root.to_path_buf(),
            delay,
            requests: requests.clone(),
            fetches: Arc::clone(&fetches),
            inflight: Arc::new(AtomicUsize::new(0)),
            peak: Arc::clone(&peak),
            served: Arc::clone(&served),
        };
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("tokio runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind 127.0.0.1");
                sender
                    .send(listener.local_addr().expect("local address"))
                    .expect("report address");
                let app = Router::new()
                    .route("/images/{*path}", get(serve_file))
                    .route("/status/{code}/{*rest}", get(serve_status))
                    .route("/hang/{*rest}", get(hang))
                    .with_state(state);
                axum::serve(listener, app).await.expect("serve");
            });
        });
        let address = receiver.recv().expect("server started");
        Server {
            base_url: format!("http://{address}"),
            requests,
            fetches,
            peak,
            served,
        }
    }

    /// (arrival, end of delay) of every `/images/` request so far.
    pub fn served(&self) -> Vec<(Instant, Instant)> {
        self.served.lock().expect("served requests").clone()
    }

    pub fn request_count(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

async fn serve_file(
    Shared(state): Shared<ServerState>,
    UrlPath(path): UrlPath<String>,
    headers: HeaderMap,
) -> Response {
    state.requests.fetch_add(1, Ordering::SeqCst);
    *state
        .fetches
        .lock()
        .expect("fetch counts")
        .entry(path.clone())
        .or_default() += 1;
    let now = state.inflight.fetch_add(1, Ordering::SeqCst) + 1;
    state.peak.fetch_max(now, Ordering::SeqCst);
    let arrived = Instant::now();
    tokio::time::sleep(state.delay).await;
    state.inflight.fetch_sub(1, Ordering::SeqCst);
    state
        .served
        .lock()
        .expect("served requests")
        .push((arrived, Instant::now()));
    if path.split('/').any(|part| part == ".." || part.is_empty()) {
        return StatusCode::BAD_REQUEST.into_response();
    }
    let Ok(body) = tokio::fs::read(state.root.join("images").join(&path)).await else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let etag = format!("\"{}\"", &hex(&Sha256::digest(&body))[..16]);
    if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        == Some(etag.as_str())
    {
        return (StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response();
    }
    (StatusCode::OK, [(header::ETAG, etag)], body).into_response()
}

async fn serve_status(
    Shared(state): Shared<ServerState>,
    UrlPath((code, _)): UrlPath<(u16, String)>,
) -> Response {
    state.requests.fetch_add(1, Ordering::SeqCst);
    StatusCode::from_u16(code)
        .unwrap_or(StatusCode::BAD_REQUEST)
        .into_response()
}

async fn hang(Shared(state): Shared<ServerState>) -> Response {
    state.requests.fetch_add(1, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(60)).await;
    StatusCode::OK.into_response()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Makes the sample partners (scripts/make-sample-partners) served by `server`.
pub fn make_sample_partners(out: &Path, server: &Server, extra: &[&str]) {
    let script = repo_root().join("scripts/make-sample-partners");
    let mut args = vec![
        script.to_str().expect("utf-8 path"),
        "--out",
        out.to_str().expect("utf-8 path"),
        "--base-url",
        &server.base_url,
    ];
    args.extend_from_slice(extra);
    run_python(&args);
}

/// `--catalog PARTNER=FILE` arguments for every catalog the script wrote.
pub fn catalog_args(corpus: &Path) -> Vec<String> {
    let mut catalogs: Vec<PathBuf> = std::fs::read_dir(corpus.join("catalogs"))
        .expect("catalogs folder")
        .map(|entry| entry.expect("entry").path())
        .collect();
    catalogs.sort();
    catalogs
        .iter()
        .flat_map(|path| {
            let partner = path
                .file_stem()
                .expect("stem")
                .to_string_lossy()
                .into_owned();
            [
                "--catalog".to_owned(),
                format!("{partner}={}", path.display()),
            ]
        })
        .collect()
}

/// Relative path → bytes of every file under `root`, for comparing two runs.
pub fn tree(root: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut files = std::collections::BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let relative = path
                    .strip_prefix(root)
                    .expect("under root")
                    .display()
                    .to_string();
                files.insert(relative, std::fs::read(&path).expect("read file"));
            }
        }
    }
    files
}

/// Number of files under `root` (0 when it does not exist yet).
pub fn count_files(root: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(root) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .map(|entry| {
            let path = entry.path();
            if path.is_dir() {
                count_files(&path)
            } else {
                1
            }
        })
        .sum()
}
