//! `krait serve`: conda channels over HTTP, with token-protected reads and uploads.
//!
//! The root is one channel folder, or (when it holds no subdir folder but other folders) a
//! folder of channels, each served at `/<channel>/`. Every channel has labels as anaconda.org
//! has them: `/<channel>/label/<label>/` is the folder `<channel>/label/<label>/`, and `main`
//! is the channel itself.
//!
//! Reads: every non-hidden file under the root (`<subdir>/repodata.json`,
//! `repodata.json.zst`, `channeldata.json`, archives), with `ETag`, `Last-Modified`,
//! conditional requests and `Range`; everything but archives says `Cache-Control: public,
//! max-age=0, must-revalidate`, so clients keep their copy and revalidate it on every use (a
//! 304 when nothing changed, the new repodata at once after an upload or a deletion). JSON is
//! gzip-compressed when the client accepts it. A token is presented either as
//! conda does, in the path (`/t/<token>/<subdir>/...`), or as `Authorization: Bearer <token>`.
//! With a read token configured every read needs it (the write token is accepted too). Plain
//! GETs of archives are answered from in-memory copies ([`super::hot_files`]).
//!
//! Uploads: `PUT /api/upload/<subdir>/<file name>` (POST accepted too) with the archive as the
//! body, the write token, and optionally `X-Content-Sha256: <hex>`. The archive is validated
//! (it decompresses; `info/index.json` agrees with the file name and the subdir), written with a
//! temp file and a rename, then the subdir is re-indexed incrementally. One lock serialises
//! writes and indexing, and every file is replaced atomically, so readers see the old or the new
//! repodata and never a partial archive. An existing file is kept unless `?force=true`.
//! Each path is relative to a channel (and label): `/<channel>/label/dev/api/upload/...`.
//!
//! Deletion: `DELETE /<subdir>/<file name>` (under the channel and label) with the write token:
//! the repodata entry goes first, then the file. Promotion: `POST /api/copy` (under the channel)
//! with `{"spec": ..., "from_label": ..., "to_label": ..., "force": false}`.

use super::files::{cache_control, Folder};
use super::hot_files::HotFiles;
use super::index::IndexOptions;
use super::index::{channel_folders, index_channel, label_folder, LABELS};
use super::index::{mtime_ns, remove_and_index, store_and_index, validate_archive, IndexError};
use super::labels::copy_between_labels;
use super::request_path::{ChannelPath, PathRefusal};
use super::serve_tokens::{Denial, Scope, Tokens};
use super::upload::{COPY_PATH, SHA256_HEADER, UPLOAD_PREFIX};
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use rattler_conda_types::Subdir;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;
use tower::ServiceExt;
use tower_http::compression::Compression;
use tower_http::services::ServeDir;

/// The default audit log, in the root.
const AUDIT_LOG: &str = ".krait-audit.jsonl";

/// Bytes per file read when serving downloads.
const READ_CHUNK: usize = 512 * 1024;

/// Errors that keep the server from starting.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum ServeError {
    #[error("cannot listen on {addr}: {source}")]
    #[diagnostic(help("pick another address with --addr, e.g. 127.0.0.1:0 for any free port"))]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error("cannot read token file {path}: {source}")]
    TokenFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write the audit log {path}: {source}")]
    #[diagnostic(help("pass --audit-log with a file the server may append to"))]
    AuditLog {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("token file {0} is empty")]
    #[diagnostic(help("write the token on the first line of the file"))]
    EmptyToken(PathBuf),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Index(#[from] IndexError),
    #[error("the server stopped: {0}")]
    Server(std::io::Error),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Tls(#[from] super::serve_tls::TlsError),
}

/// How to run the server.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub channel: PathBuf,
    pub addr: String,
    /// Needed for reads when set.
    pub read_token: Option<String>,
    /// Needed for uploads; without it uploads are refused.
    pub write_token: Option<String>,
    /// Scoped tokens (`--tokens-file`), next to the two simple ones.
    pub tokens: Option<Tokens>,
    /// Where every write (upload, copy, deletion) is logged as a JSON line; by default
    /// `<root>/.krait-audit.jsonl` (hidden, so never served).
    pub audit_log: Option<PathBuf>,
    pub max_upload_bytes: u64,
    /// Serve HTTPS with these files instead of plain HTTP.
    pub tls: Option<super::serve_tls::TlsFiles>,
    /// Connection limit and timeouts.
    pub limits: super::serve_limits::Limits,
}

/// Reads a token from the first line of a file.
pub fn read_token_file(path: &Path) -> Result<String, ServeError> {
    let text = std::fs::read_to_string(path).map_err(|source| ServeError::TokenFile {
        path: path.to_path_buf(),
        source,
    })?;
    let token = text.lines().next().unwrap_or("").trim().to_string();
    if token.is_empty() {
        return Err(ServeError::EmptyToken(path.to_path_buf()));
    }
    Ok(token)
}

/// Only JSON (repodata) is worth compressing; archives are compressed already.
type JsonOnly = for<'a, 'b> fn(
    StatusCode,
    axum::http::Version,
    &'a HeaderMap,
    &'b axum::http::Extensions,
) -> bool;

fn is_json(
    _: StatusCode,
    _: axum::http::Version,
    headers: &HeaderMap,
    _: &axum::http::Extensions,
) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}

struct ServerState {
    root: PathBuf,
    /// The root holds channels (`/<channel>/...`) rather than being one.
    many_channels: bool,
    read_token: Option<String>,
    write_token: Option<String>,
    tokens: Option<Tokens>,
    audit_log: PathBuf,
    max_upload_bytes: u64,
    /// Held while an upload writes its archive and re-indexes.
    write_lock: tokio::sync::Mutex<()>,
    files: Compression<ServeDir, JsonOnly>,
    /// Archives kept in memory for plain GETs.
    hot: HotFiles,
}

/// Indexes the channel, binds, calls `on_ready` with the bound address and serves (HTTPS with
/// `options.tls`) until Ctrl-C.
pub async fn serve(
    options: ServeOptions,
    on_ready: impl FnOnce(SocketAddr),
) -> Result<(), ServeError> {
    // Bad certificate files stop the server before it indexes or binds anything.
    let acceptor = options
        .tls
        .as_ref()
        .map(super::serve_tls::acceptor)
        .transpose()?;
    if !options.channel.is_dir() {
        return Err(IndexError::MissingChannel(options.channel.clone()).into());
    }
    let audit_log = options
        .audit_log
        .unwrap_or_else(|| options.channel.join(AUDIT_LOG));
    // A server that could not say who wrote what does not start (nor index anything).
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&audit_log)
        .map_err(|source| ServeError::AuditLog {
            path: audit_log.clone(),
            source,
        })?;
    let root = options.channel.clone();
    let many_channels = holds_channels(&root);
    let index_options = IndexOptions {
        write_zst: true,
        write_shards: true,
        ..IndexOptions::default()
    };
    let reports = tokio::task::spawn_blocking(move || {
        let channels = if many_channels {
            visible_folders(&root)
        } else {
            vec![root]
        };
        let mut reports = Vec::new();
        for channel in channels {
            for folder in channel_folders(&channel)? {
                reports.extend(index_channel(&Folder::new(folder), &index_options)?);
            }
        }
        Ok::<_, IndexError>(reports)
    })
    .await
    .expect("indexing does not panic")?;
    for archive in reports.iter().flat_map(|r| &r.bad) {
        tracing::warn!(
            "not served in repodata: {}: {}",
            archive.path.display(),
            archive.reason
        );
    }
    let listener = tokio::net::TcpListener::bind(&options.addr)
        .await
        .map_err(|source| ServeError::Bind {
            addr: options.addr.clone(),
            source,
        })?;
    let addr = listener.local_addr().map_err(ServeError::Server)?;
    let files = Compression::new(
        ServeDir::new(&options.channel)
            .append_index_html_on_directories(false)
            // Few large reads: each one is a round trip through tokio's blocking pool.
            .with_buf_chunk_size(READ_CHUNK),
    )
    .compress_when(is_json as JsonOnly);
    let state = Arc::new(ServerState {
        root: options.channel.clone(),
        many_channels,
        read_token: options.read_token,
        write_token: options.write_token,
        tokens: options.tokens,
        audit_log,
        max_upload_bytes: options.max_upload_bytes,
        write_lock: tokio::sync::Mutex::new(()),
        files,
        hot: HotFiles::default(),
    });
    let app = axum::Router::new().fallback(handle).with_state(state);
    on_ready(addr);
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    match acceptor {
        Some(acceptor) => {
            super::serve_tls::serve(listener, acceptor, app, options.limits, ctrl_c).await
        }
        None => {
            let plain = |stream| async move { Some(stream) };
            super::serve_limits::accept_loop(listener, app, options.limits, plain, ctrl_c).await
        }
    }
    Ok(())
}

/// Whether `root` is a folder of channels: it has folders, none of them a subdir or `label/`.
/// An empty root is one (new) channel.
fn holds_channels(root: &Path) -> bool {
    let folders = visible_folders(root);
    !folders.is_empty()
        && !folders.iter().any(|f| {
            f.file_name().is_some_and(|n| {
                let name = n.to_string_lossy();
                name == LABELS || name.parse::<Subdir>().is_ok()
            })
        })
}

/// The non-hidden folders directly in `dir`, sorted.
fn visible_folders(dir: &Path) -> Vec<PathBuf> {
    let mut folders: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    folders.sort();
    folders
}

/// Which channel folder a request is about, parsed off the front of its path.
struct Location {
    /// The channel's name (the root folder's when the root is the one channel).
    channel: String,
    /// `main` unless the path said `/label/<label>/`.
    label: String,
    /// The channel (or label) folder.
    dir: PathBuf,
    /// The URL path of `dir` under the root (`/<channel>/label/<label>`, or empty).
    prefix: String,
}

/// The first segment of a request path (`/segment/rest`), checked as every path segment is.
struct Segment<'p> {
    decoded: String,
    /// As it was in the URL.
    raw: &'p str,
    /// `/rest` (empty when the segment was the last).
    rest: &'p str,
}

fn take_segment(path: &str) -> Option<Segment<'_>> {
    let trimmed = path.strip_prefix('/')?;
    let end = trimmed.find('/').unwrap_or(trimmed.len());
    let checked = ChannelPath::parse(&trimmed[..end]).ok()?;
    let [decoded] = checked.segments() else {
        return None;
    };
    Some(Segment {
        decoded: decoded.clone(),
        raw: &trimmed[..end],
        rest: &trimmed[end..],
    })
}

/// Splits `/<channel>` (when the root holds channels) and `/label/<label>` off a request path.
fn locate<'p>(state: &ServerState, path: &'p str) -> Result<(Location, &'p str), Refusal> {
    let mut location = Location {
        channel: state
            .root
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        label: super::index::MAIN_LABEL.to_string(),
        dir: state.root.clone(),
        prefix: String::new(),
    };
    let mut rest = path;
    if state.many_channels {
        let not_found = || Refusal::new(StatusCode::NOT_FOUND, "no such channel on this server");
        let channel = take_segment(rest).ok_or_else(not_found)?;
        location.dir = state.root.join(&channel.decoded);
        if !location.dir.is_dir() {
            return Err(Refusal::new(
                StatusCode::NOT_FOUND,
                format!("no channel named {:?} on this server", channel.decoded),
            ));
        }
        location.prefix = format!("/{}", channel.raw);
        location.channel = channel.decoded;
        rest = channel.rest;
    }
    if let Some(labels) = take_segment(rest).filter(|s| s.decoded == LABELS) {
        let label = take_segment(labels.rest)
            .ok_or_else(|| Refusal::new(StatusCode::BAD_REQUEST, "/label/ needs a label name"))?;
        location.dir = label_folder(&location.dir, &label.decoded);
        if label.decoded != super::index::MAIN_LABEL {
            location.prefix = format!("{}/{LABELS}/{}", location.prefix, label.raw);
        }
        location.label = label.decoded;
        rest = label.rest;
    }
    Ok((location, rest))
}

/// Every request: split off a `/t/<token>` prefix, dispatch, and write the access log line.
async fn handle(
    State(state): State<Arc<ServerState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let raw_path = request.uri().path().to_string();
    let (path_token, path) = split_token(&raw_path);
    let (path_token, path) = (path_token.map(str::to_string), path.to_string());
    let token = path_token.or_else(|| bearer_token(request.headers()));
    let response = dispatch(&state, request, &path, token.as_deref()).await;
    tracing::info!(
        target: "krait::serve::access",
        peer = %peer,
        method = %method,
        path = %path,
        token = token.is_some(),
        status = response.status().as_u16(),
        bytes = response
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-"),
        elapsed_us = started.elapsed().as_micros() as u64,
    );
    response
}

async fn dispatch(
    state: &ServerState,
    request: Request,
    path: &str,
    token: Option<&str>,
) -> Response {
    let method = request.method().clone();
    let reads = method == Method::GET || method == Method::HEAD;
    let (location, rest) = match locate(state, path) {
        Ok(located) => located,
        Err(refusal) if reads => return refusal.into_response(),
        Err(refusal) => return refuse_upload(request.into_body(), refusal.into_response()).await,
    };
    let write_check = |allowed: bool, methods: &str, scope: Scope| {
        if allowed {
            authorize_write(state, token, &location, scope)
        } else {
            Err(Refusal::new(StatusCode::METHOD_NOT_ALLOWED, methods))
        }
    };
    if let Some(target) = rest.strip_prefix(UPLOAD_PREFIX) {
        let allowed = method == Method::PUT || method == Method::POST;
        let who = match write_check(allowed, "uploads use PUT or POST", Scope::Write) {
            Ok(who) => who,
            Err(refusal) => {
                return refuse_upload(request.into_body(), refusal.into_response()).await
            }
        };
        let force = request
            .uri()
            .query()
            .is_some_and(|q| q.split('&').any(|kv| kv == "force=true" || kv == "force=1"));
        let target = target.to_string();
        return match upload(state, request, &location, &who, &target, force).await {
            Ok(response) => response,
            Err(response) => response,
        };
    }
    if rest == COPY_PATH {
        let checked = write_check(method == Method::POST, "copies use POST", Scope::Write)
            .and_then(|who| match location.label == super::index::MAIN_LABEL {
                true => Ok(who),
                false => Err(Refusal::new(
                    StatusCode::BAD_REQUEST,
                    "copy within a channel: POST /<channel>/api/copy, labels in the body",
                )),
            });
        return match checked {
            Ok(who) => copy(state, request, &location, &who).await,
            Err(refusal) => refuse_upload(request.into_body(), refusal.into_response()).await,
        };
    }
    if method == Method::DELETE {
        return match write_check(true, "", Scope::Delete) {
            Ok(who) => delete(state, &location, &who, rest).await,
            Err(refusal) => refusal.into_response(),
        };
    }
    if !reads {
        return error(
            StatusCode::METHOD_NOT_ALLOWED,
            "only GET and HEAD are served here; uploads go to PUT /api/upload/<subdir>/<file>",
        );
    }
    if let Err(denied) = authorize_read(state, token, &location) {
        return denied.into_response();
    }
    download(state, request, &format!("{}{rest}", location.prefix)).await
}

/// `/t/<token>/rest` → (`token`, `/rest`).
fn split_token(path: &str) -> (Option<&str>, &str) {
    if let Some(rest) = path.strip_prefix("/t/") {
        let (token, tail) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        let tail = if tail.is_empty() { "/" } else { tail };
        return (Some(token), tail);
    }
    (None, path)
}

fn bearer_token(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_string())
}

/// Compares tokens in time independent of where they differ.
fn same_token(given: &str, expected: &str) -> bool {
    given.len() == expected.len()
        && given
            .bytes()
            .zip(expected.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

/// Why a request is refused; becomes a `status` response with `error: message` as body.
struct Refusal {
    status: StatusCode,
    message: String,
}

impl Refusal {
    fn new(status: StatusCode, message: impl Into<String>) -> Refusal {
        Refusal {
            status,
            message: message.into(),
        }
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let mut response = error(self.status, &self.message);
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"krait\""),
            );
        }
        response
    }
}

fn unauthorized(message: &str) -> Refusal {
    Refusal::new(StatusCode::UNAUTHORIZED, message)
}

/// Who made a request, as the audit log names them.
type Who = String;

/// Checks a read of `location`: open unless a read token or a tokens file closes it.
fn authorize_read(
    state: &ServerState,
    token: Option<&str>,
    location: &Location,
) -> Result<Who, Refusal> {
    let public_here = state
        .tokens
        .as_ref()
        .is_some_and(|t| t.is_public(&location.channel));
    let closed = state.read_token.is_some() || (state.tokens.is_some() && !public_here);
    let Some(t) = token else {
        if closed && !public_here {
            return Err(unauthorized(
                "this channel needs a token: use /t/<token>/ in the channel URL or Authorization: Bearer",
            ));
        }
        return Ok("anonymous".into());
    };
    if state
        .read_token
        .as_deref()
        .is_some_and(|r| same_token(t, r))
    {
        return Ok("read-token".into());
    }
    if state
        .write_token
        .as_deref()
        .is_some_and(|w| same_token(t, w))
    {
        return Ok("write-token".into());
    }
    match scoped(state, t, location, Scope::Read) {
        Err(Denial::Unknown) if !closed => Ok("anonymous".into()),
        other => other.map_err(|denial| denied(denial, location, "read")),
    }
}

/// Checks an upload or copy (`Scope::Write`) or a deletion (`Scope::Delete`) in `location`.
fn authorize_write(
    state: &ServerState,
    token: Option<&str>,
    location: &Location,
    scope: Scope,
) -> Result<Who, Refusal> {
    if state.write_token.is_none() && state.tokens.is_none() {
        return Err(Refusal::new(
            StatusCode::FORBIDDEN,
            "uploads are disabled on this server (start krait serve with --write-token-file or --tokens-file)",
        ));
    }
    let Some(t) = token else {
        return Err(unauthorized("uploading needs the write token"));
    };
    if state
        .write_token
        .as_deref()
        .is_some_and(|w| same_token(t, w))
    {
        return Ok("write-token".into());
    }
    if state
        .read_token
        .as_deref()
        .is_some_and(|r| same_token(t, r))
    {
        return Err(Refusal::new(
            StatusCode::FORBIDDEN,
            "this token may read but not upload: use the write token",
        ));
    }
    let action = if scope == Scope::Delete {
        "delete"
    } else {
        "write"
    };
    scoped(state, t, location, scope).map_err(|denial| denied(denial, location, action))
}

/// The name of the tokens-file entry that grants `scope` in `location`.
fn scoped(
    state: &ServerState,
    token: &str,
    location: &Location,
    scope: Scope,
) -> Result<Who, Denial> {
    let tokens = state.tokens.as_ref().ok_or(Denial::Unknown)?;
    tokens
        .authorize(token, &location.channel, scope)
        .map(|entry| entry.name.clone())
}

fn denied(denial: Denial, location: &Location, action: &str) -> Refusal {
    match denial {
        Denial::Unknown => unauthorized("invalid token"),
        Denial::Expired(name) => unauthorized(&format!("token {name:?} has expired")),
        Denial::OutOfScope(name) => Refusal::new(
            StatusCode::FORBIDDEN,
            format!(
                "token {name:?} may not {action} in channel {:?}",
                location.channel
            ),
        ),
    }
}

/// Appends one write to the audit log (who, what, when) and to the tracing log.
fn audit(
    state: &ServerState,
    who: &str,
    action: &str,
    location: &Location,
    what: serde_json::Value,
) {
    let line = serde_json::json!({
        "time": jiff::Timestamp::now().to_string(),
        "who": who,
        "action": action,
        "channel": location.channel,
        "label": location.label,
        "what": what,
    });
    tracing::info!(target: "krait::serve::audit", "{line}");
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&state.audit_log)
        .and_then(|mut file| std::io::Write::write_all(&mut file, format!("{line}\n").as_bytes()));
    if let Err(e) = written {
        tracing::error!(
            "cannot write the audit log {}: {e}",
            state.audit_log.display()
        );
    }
}

fn error(status: StatusCode, message: &str) -> Response {
    (status, format!("error: {message}\n")).into_response()
}

/// Serves a file through `ServeDir` (Range, Last-Modified, conditional GET), adding an ETag.
/// The path is decoded and checked once, before any branch looks at the file system.
async fn download(state: &ServerState, request: Request, path: &str) -> Response {
    let checked = match ChannelPath::parse(path) {
        Ok(checked) => checked,
        Err(PathRefusal::Hidden | PathRefusal::Empty) => {
            return error(StatusCode::NOT_FOUND, "not found")
        }
        Err(refusal) => return error(StatusCode::BAD_REQUEST, &refusal.to_string()),
    };
    // One stat syscall: cheaper inline than a round trip through tokio's blocking pool.
    let file = checked.under(&state.root);
    let meta = std::fs::metadata(&file).ok().filter(|m| m.is_file());
    let etag = meta
        .as_ref()
        .map(|m| format!("\"{:x}-{:x}\"", mtime_ns(m), m.len()));
    if let Some(etag) = &etag {
        let matches = request
            .headers()
            .get(header::IF_NONE_MATCH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
        if matches {
            let mut response = StatusCode::NOT_MODIFIED.into_response();
            response
                .headers_mut()
                .insert(header::ETAG, HeaderValue::from_str(etag).expect("ascii"));
            return with_cache_control(response, &file);
        }
        let hot = meta.as_ref().map(|meta| {
            state
                .hot
                .respond(request.method(), request.headers(), &file, meta, etag)
        });
        if let Some(response) = match hot {
            Some(respond) => respond.await,
            None => None,
        } {
            return response;
        }
    }
    // ServeDir sees the checked path, re-encoded, never the raw one.
    let (mut parts, body) = request.into_parts();
    // An ETag that did not match wins over a date (RFC 9110 13.1.3): Last-Modified has whole
    // seconds, and a repodata.json rewritten within the second of the client's copy would
    // otherwise be answered 304 with the copy that still lists a deleted package.
    if parts.headers.contains_key(header::IF_NONE_MATCH) {
        parts.headers.remove(header::IF_MODIFIED_SINCE);
    }
    let query = parts
        .uri
        .query()
        .map(|q| format!("?{q}"))
        .unwrap_or_default();
    parts.uri = match format!("{}{query}", checked.to_url_path()).parse() {
        Ok(uri) => uri,
        Err(_) => return error(StatusCode::BAD_REQUEST, "malformed query"),
    };
    let request = Request::from_parts(parts, body);
    let response = match state.files.clone().oneshot(request).await {
        Ok(response) => response,
        Err(infallible) => match infallible {},
    };
    let mut response = response.map(Body::new);
    if let Some(etag) = etag {
        if response.status().is_success() {
            response
                .headers_mut()
                .insert(header::ETAG, HeaderValue::from_str(&etag).expect("ascii"));
        }
    }
    with_cache_control(response, &file)
}

/// Adds the file's [`cache_control`] to a successful or 304 answer.
fn with_cache_control(mut response: Response, file: &Path) -> Response {
    let status = response.status();
    if let Some(policy) = cache_control(file) {
        if status.is_success() || status == StatusCode::NOT_MODIFIED {
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static(policy));
        }
    }
    response
}

/// Checks `<subdir>/<file name>` of an upload URL; the message says what is wrong.
fn upload_target(target: &str) -> Result<(String, String), String> {
    let checked = ChannelPath::parse(target).map_err(|refusal| match refusal {
        PathRefusal::Hidden => format!("upload path {target:?} names a hidden file"),
        PathRefusal::Empty => format!(
            "upload path {target:?} must be exactly <subdir>/<file name>, e.g. noarch/pkg-1.0-0.conda"
        ),
        other => format!("upload path {target:?}: {other}"),
    })?;
    let [subdir, file_name] = checked.segments() else {
        return Err(format!(
            "upload path {target:?} must be exactly <subdir>/<file name>, e.g. noarch/pkg-1.0-0.conda"
        ));
    };
    subdir.parse::<Subdir>().map_err(|_| {
        format!("{subdir:?} is not a conda subdir (noarch, linux-64, osx-arm64, ...)")
    })?;
    Ok((subdir.clone(), file_name.clone()))
}

/// How much of a refused upload's body the server still reads (and throws away) so that the
/// client, which is still sending, gets to read the refusal instead of a broken pipe.
const REFUSED_BODY_DRAIN_BYTES: u64 = 64 * 1024 * 1024;
/// How long the server waits for that rest of a refused body.
const REFUSED_BODY_DRAIN_TIME: std::time::Duration = std::time::Duration::from_secs(30);

/// Answers an upload refused before its body was read. HTTP clients without
/// `Expect: 100-continue` send the whole body before reading the answer; dropping it unread
/// closes the connection under them. Bodies beyond the drain limit are not read: the
/// connection is closed and such a client sees the reset.
async fn refuse_upload(body: Body, mut refusal: Response) -> Response {
    let drained = tokio::time::timeout(REFUSED_BODY_DRAIN_TIME, async {
        let mut stream = body.into_data_stream();
        let mut seen = 0u64;
        while let Some(Ok(chunk)) = stream.next().await {
            seen += chunk.len() as u64;
            if seen > REFUSED_BODY_DRAIN_BYTES {
                return false;
            }
        }
        true
    })
    .await
    .unwrap_or(false);
    if !drained {
        refusal
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    refusal
}

/// Reads the body up to the size limit; a body cut short by the client is an error.
async fn read_body(body: Body, limit: u64) -> Result<Vec<u8>, Response> {
    let mut stream = body.into_data_stream();
    let mut bytes = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| {
            error(
                StatusCode::BAD_REQUEST,
                &format!(
                    "the upload was cut short ({} bytes received): {e}",
                    bytes.len()
                ),
            )
        })?;
        if (bytes.len() + chunk.len()) as u64 > limit {
            return Err(refuse_upload(Body::from_stream(stream), too_large(limit)).await);
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

fn too_large(limit: u64) -> Response {
    error(
        StatusCode::PAYLOAD_TOO_LARGE,
        &format!(
            "the upload is larger than this server's limit of {limit} bytes (--max-upload-mib)"
        ),
    )
}

async fn upload(
    state: &ServerState,
    request: Request,
    location: &Location,
    who: &str,
    target: &str,
    force: bool,
) -> Result<Response, Response> {
    let declared_length = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    let admitted = match upload_target(target) {
        Err(message) => Err(error(StatusCode::BAD_REQUEST, &message)),
        Ok(_) if declared_length.is_some_and(|n| n > state.max_upload_bytes) => {
            Err(too_large(state.max_upload_bytes))
        }
        Ok(target) => Ok(target),
    };
    let (subdir, file_name) = match admitted {
        Ok(target) => target,
        Err(refusal) => return Err(refuse_upload(request.into_body(), refusal).await),
    };
    let expected_sha256 = request
        .headers()
        .get(SHA256_HEADER)
        .map(|v| v.to_str().unwrap_or("").trim().to_ascii_lowercase());
    let bytes = read_body(request.into_body(), state.max_upload_bytes).await?;
    if declared_length.is_some_and(|n| n != bytes.len() as u64) {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "the upload was cut short: fewer bytes than Content-Length",
        ));
    }
    let sha256 =
        hex::encode(rattler_digest::compute_bytes_digest::<rattler_digest::Sha256>(&bytes));
    if let Some(expected) = expected_sha256 {
        if expected != sha256 {
            return Err(error(
                StatusCode::BAD_REQUEST,
                &format!(
                    "sha256 mismatch: the body hashes to {sha256}, {SHA256_HEADER} says {expected}"
                ),
            ));
        }
    }
    let (bytes, check) = {
        let (subdir, file_name) = (subdir.clone(), file_name.clone());
        tokio::task::spawn_blocking(move || {
            let check = validate_archive(&bytes, &file_name, &subdir);
            (bytes, check)
        })
        .await
        .expect("validation does not panic")
    };
    if let Err(reason) = check {
        return Err(error(
            StatusCode::UNPROCESSABLE_ENTITY,
            &format!("{subdir}/{file_name} is not a valid package: {reason}"),
        ));
    }

    let _guard = state.write_lock.lock().await;
    let root = location.dir.clone();
    let path = root.join(&subdir).join(&file_name);
    let replaced = path.exists();
    if replaced && !force {
        return Err(error(
            StatusCode::CONFLICT,
            &format!("{subdir}/{file_name} already exists; add ?force=true to replace it"),
        ));
    }
    let size = bytes.len();
    let written = {
        let (subdir, file_name) = (subdir.clone(), file_name.clone());
        tokio::task::spawn_blocking(move || {
            store_and_index(&Folder::new(root), &subdir, &file_name, &bytes, true)
        })
        .await
        .expect("indexing does not panic")
    };
    if let Err(e) = written {
        return Err(error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()));
    }
    let what = serde_json::json!({
        "target": format!("{subdir}/{file_name}"), "sha256": sha256, "size": size, "replaced": replaced,
    });
    audit(state, who, "upload", location, what);
    let body = serde_json::json!({
        "uploaded": format!("{subdir}/{file_name}"),
        "sha256": sha256,
        "size": size,
        "replaced": replaced,
    });
    Ok((StatusCode::CREATED, axum::Json(body)).into_response())
}

/// `DELETE <subdir>/<file name>` of a channel (or label): the repodata entry, then the file.
async fn delete(state: &ServerState, location: &Location, who: &str, target: &str) -> Response {
    let (subdir, file_name) = match upload_target(target) {
        Ok(target) => target,
        Err(message) => {
            return error(
                StatusCode::BAD_REQUEST,
                &message.replace("upload", "delete"),
            )
        }
    };
    let _guard = state.write_lock.lock().await;
    let removed = {
        let (dir, subdir, file_name) = (location.dir.clone(), subdir.clone(), file_name.clone());
        tokio::task::spawn_blocking(move || {
            remove_and_index(&Folder::new(dir), &subdir, &file_name, true)
        })
        .await
        .expect("indexing does not panic")
    };
    match removed {
        Ok(true) => {
            let what = serde_json::json!({ "target": format!("{subdir}/{file_name}") });
            audit(state, who, "delete", location, what);
            let body = serde_json::json!({ "deleted": format!("{subdir}/{file_name}") });
            (StatusCode::OK, axum::Json(body)).into_response()
        }
        Ok(false) => error(
            StatusCode::NOT_FOUND,
            &format!("{subdir}/{file_name} is not in this channel"),
        ),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

/// What `POST /<channel>/api/copy` takes.
#[derive(serde::Deserialize)]
struct CopyRequest {
    spec: String,
    from_label: String,
    to_label: String,
    #[serde(default)]
    force: bool,
}

/// Copies the archives of one label matching a spec into another label of the same channel.
async fn copy(state: &ServerState, request: Request, location: &Location, who: &str) -> Response {
    let body = match read_body(request.into_body(), 64 * 1024).await {
        Ok(body) => body,
        Err(response) => return response,
    };
    let wanted: CopyRequest = match serde_json::from_slice(&body) {
        Ok(wanted) => wanted,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                &format!("the copy request is not {{\"spec\", \"from_label\", \"to_label\"}}: {e}"),
            )
        }
    };
    let _guard = state.write_lock.lock().await;
    let dir = location.dir.clone();
    let (from, to, spec, force) = (
        wanted.from_label.clone(),
        wanted.to_label.clone(),
        wanted.spec.clone(),
        wanted.force,
    );
    let copied = tokio::task::spawn_blocking(move || {
        copy_between_labels(&Folder::new(dir), &from, &to, &spec, force, true)
    })
    .await
    .expect("copying does not panic");
    use super::labels::LabelError;
    match copied {
        Ok(copied) => {
            let what = serde_json::json!({
                "spec": wanted.spec, "from_label": wanted.from_label,
                "to_label": wanted.to_label, "copied": copied,
            });
            audit(state, who, "copy", location, what);
            (
                StatusCode::OK,
                axum::Json(serde_json::json!({ "copied": copied })),
            )
                .into_response()
        }
        Err(e @ (LabelError::BadSpec { .. } | LabelError::BadLabel(_))) => {
            error(StatusCode::BAD_REQUEST, &e.to_string())
        }
        Err(e @ LabelError::NothingMatches { .. }) => error(StatusCode::NOT_FOUND, &e.to_string()),
        Err(e @ LabelError::Conflict(_)) => error(
            StatusCode::CONFLICT,
            &format!("{e}; send \"force\": true to replace it"),
        ),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_split_off_conda_style_paths() {
        assert_eq!(
            split_token("/t/abc/noarch/repodata.json"),
            (Some("abc"), "/noarch/repodata.json")
        );
        assert_eq!(split_token("/t/abc"), (Some("abc"), "/"));
        assert_eq!(split_token("/noarch/x"), (None, "/noarch/x"));
    }

    #[test]
    fn upload_targets_must_be_plain_names() {
        assert_eq!(
            upload_target("noarch/a-1-0.conda").unwrap(),
            ("noarch".into(), "a-1-0.conda".into())
        );
        for bad in [
            "noarch/..%2Fa-1-0.conda",
            "noarch/%2Fetc%2Fpasswd",
            "../noarch/a-1-0.conda",
            "noarch/.hidden.conda",
            "a-1-0.conda",
            "not-a-subdir/a-1-0.conda",
            "noarch//a-1-0.conda",
        ] {
            assert!(upload_target(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn token_comparison_needs_equal_tokens() {
        assert!(same_token("secret", "secret"));
        assert!(!same_token("secreT", "secret"));
        assert!(!same_token("secret1", "secret"));
    }
}
