//! `imgpipe review`: the review desk, a web page where people see what the pipeline decided
//! for a hotel (ranked canonical images, score breakdown, duplicate sets) and fix it with
//! actions stored as overrides (see [`crate::store::Overrides`]) that every later dedupe and
//! prioritise run applies. Plain HTML forms (no script), rendered with maud; access by token
//! ([`auth`]).

mod auth;
mod pages;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};

use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Form, Router};
use bytes::Bytes;
use serde::Deserialize;

use crate::blobstore::BlobStore;
use crate::decode::{self, DecodeLimits};
use crate::store::{ActionKind, NewAction, Store, StoreError};

pub use auth::{load_tokens, Role, Session, Tokens};
pub use pages::HotelsQuery;

/// Long side of a thumbnail, in pixels.
const THUMB_SIDE: u32 = 320;
/// Thumbnails kept in memory (about 20 kB each).
const THUMB_CACHE: usize = 4096;

#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    #[error("cannot read the token file {path}: {source}")]
    TokenFileRead {
        path: String,
        source: std::io::Error,
    },
    #[error("token file {path}, line {line}: {message}")]
    TokenFile {
        path: String,
        line: usize,
        message: String,
    },
    #[error("token file {0} has no tokens: add a line `TOKEN ROLE` (role reviewer or editor)")]
    NoTokens(String),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("review server: {0}")]
    Serve(std::io::Error),
}

/// What every handler shares.
pub struct App {
    store: Arc<Store>,
    blobs: BlobStore,
    tokens: Tokens,
    /// Random per server start: CSRF tokens are derived from it and the session.
    secret: [u8; 32],
    thumbs: Mutex<BTreeMap<String, Bytes>>,
}

/// Serves the review desk on `addr` until the process ends; prints the address it listens on
/// (port 0 picks a free one).
pub async fn serve(
    store: Arc<Store>,
    blobs: BlobStore,
    tokens: Tokens,
    addr: SocketAddr,
) -> Result<(), ReviewError> {
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret).expect("the system's random source");
    let app = Arc::new(App {
        store,
        blobs,
        tokens,
        secret,
        thumbs: Mutex::new(BTreeMap::new()),
    });
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| ReviewError::Bind { addr, source })?;
    let bound = listener.local_addr().map_err(ReviewError::Serve)?;
    println!("review desk on http://{bound}/");
    axum::serve(listener, router(app))
        .await
        .map_err(ReviewError::Serve)
}

fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/", get(hotels))
        .route("/hotel", get(hotel))
        .route("/hotel/action", post(act))
        .route("/hotel/undo", post(undo))
        .route("/thumb/{sha256}", get(thumbnail))
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            auth::guard,
        ))
        .with_state(app)
}

/// A store failure as a page.
struct Failure(StoreError);

impl From<StoreError> for Failure {
    fn from(error: StoreError) -> Self {
        Failure(error)
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        tracing::error!("review desk: {}", self.0);
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("500: {}\n", self.0),
        )
            .into_response()
    }
}

async fn hotels(
    State(app): State<Arc<App>>,
    Extension(session): Extension<Session>,
    Query(query): Query<HotelsQuery>,
) -> Result<Response, Failure> {
    Ok(pages::hotels(&app.store, &session, &query)
        .await?
        .into_response())
}

#[derive(Deserialize)]
struct GroupQuery {
    group: String,
}

async fn hotel(
    State(app): State<Arc<App>>,
    Extension(session): Extension<Session>,
    Query(GroupQuery { group }): Query<GroupQuery>,
) -> Result<Response, Failure> {
    Ok(pages::hotel(&app.store, &session, &group)
        .await?
        .into_response())
}

/// A posted action: `kind` (first, exclude, up, down, split, merge), the image, and for a split
/// or merge the other image.
#[derive(Deserialize)]
struct ActionForm {
    kind: String,
    image: String,
    #[serde(default)]
    other: Option<String>,
}

fn hotel_url(group: &str) -> String {
    format!(
        "/hotel?{}",
        url::form_urlencoded::Serializer::new(String::new())
            .append_pair("group", group)
            .finish()
    )
}

fn bad_request(message: String) -> Response {
    (StatusCode::BAD_REQUEST, format!("400: {message}\n")).into_response()
}

async fn act(
    State(app): State<Arc<App>>,
    Extension(session): Extension<Session>,
    Query(GroupQuery { group }): Query<GroupQuery>,
    Form(form): Form<ActionForm>,
) -> Result<Response, Failure> {
    let store = &app.store;
    let images = store.group_images(&group).await?;
    let known = |sha: &str| images.iter().any(|image| image.sha256 == sha);
    if !known(&form.image) {
        return Ok(bad_request(format!(
            "hotel {group:?} has no image {:?}",
            form.image
        )));
    }
    let other = form.other.filter(|other| !other.is_empty());
    let action = match form.kind.as_str() {
        "up" | "down" => {
            let mut order: Vec<String> = store
                .ranked(&group)
                .await?
                .into_iter()
                .map(|row| row.sha256)
                .collect();
            let Some(at) = order.iter().position(|sha| *sha == form.image) else {
                return Ok(bad_request(format!("{:?} is not ranked", form.image)));
            };
            let to = if form.kind == "up" {
                at.checked_sub(1)
            } else {
                Some(at + 1).filter(|&to| to < order.len())
            };
            if let Some(to) = to {
                order.swap(at, to);
            }
            NewAction {
                kind: ActionKind::Order,
                sha256: form.image,
                other: None,
                order,
            }
        }
        kind => {
            let Some(kind) = ActionKind::parse(kind).filter(|k| *k != ActionKind::Order) else {
                return Ok(bad_request(format!("unknown action {kind:?}")));
            };
            let pair = matches!(kind, ActionKind::Split | ActionKind::Merge);
            match &other {
                Some(other) if pair && (!known(other) || *other == form.image) => {
                    return Ok(bad_request(format!(
                        "{other:?} is not another image of hotel {group:?}"
                    )));
                }
                None if pair => {
                    return Ok(bad_request(format!("{kind:?} needs a second image")));
                }
                _ => {}
            }
            NewAction {
                kind,
                sha256: form.image,
                other: other.filter(|_| pair),
                order: Vec::new(),
            }
        }
    };
    store.record_action(&group, &action, &session.actor).await?;
    Ok(Redirect::to(&hotel_url(&group)).into_response())
}

#[derive(Deserialize)]
struct UndoForm {
    id: i64,
}

async fn undo(
    State(app): State<Arc<App>>,
    Extension(session): Extension<Session>,
    Query(GroupQuery { group }): Query<GroupQuery>,
    Form(form): Form<UndoForm>,
) -> Result<Response, Failure> {
    if !app
        .store
        .undo_action(&group, form.id, &session.actor)
        .await?
    {
        return Ok(bad_request(format!(
            "hotel {group:?} has no action {} that is not undone",
            form.id
        )));
    }
    Ok(Redirect::to(&hotel_url(&group)).into_response())
}

/// A stored image as a small JPEG, made on first request and kept in memory; the URL names
/// the content, so browsers may keep it for good.
async fn thumbnail(
    State(app): State<Arc<App>>,
    UrlPath(sha256): UrlPath<String>,
    headers: HeaderMap,
) -> Response {
    if sha256.len() != 64
        || !sha256
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return bad_request("an image is named by its sha256 (64 lower-case hex digits)".into());
    }
    let etag = format!("\"{}-{THUMB_SIDE}\"", &sha256[..16]);
    let cached = [
        (
            header::CACHE_CONTROL,
            "private, max-age=31536000, immutable".to_owned(),
        ),
        (header::ETAG, etag.clone()),
    ];
    if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        == Some(etag.as_str())
    {
        return (StatusCode::NOT_MODIFIED, cached).into_response();
    }
    let hit = app
        .thumbs
        .lock()
        .expect("thumbnail cache")
        .get(&sha256)
        .cloned();
    let jpeg = match hit {
        Some(jpeg) => jpeg,
        None => {
            let Ok(body) = app.blobs.read(&sha256).await else {
                return (StatusCode::NOT_FOUND, "404: no such image\n").into_response();
            };
            let made = tokio::task::spawn_blocking(move || make_thumbnail(&body))
                .await
                .expect("thumbnailing does not panic");
            let jpeg = match made {
                Ok(jpeg) => Bytes::from(jpeg),
                Err(message) => {
                    return (
                        StatusCode::UNPROCESSABLE_ENTITY,
                        format!("422: {message}\n"),
                    )
                        .into_response()
                }
            };
            let mut thumbs = app.thumbs.lock().expect("thumbnail cache");
            if thumbs.len() >= THUMB_CACHE {
                thumbs.pop_first();
            }
            thumbs.insert(sha256, jpeg.clone());
            jpeg
        }
    };
    (
        StatusCode::OK,
        cached,
        [(header::CONTENT_TYPE, "image/jpeg".to_owned())],
        jpeg,
    )
        .into_response()
}

fn make_thumbnail(body: &[u8]) -> Result<Vec<u8>, String> {
    let decoded = decode::decode_reduced(body, DecodeLimits::default(), THUMB_SIDE)
        .map_err(|e| e.to_string())?;
    let small = decoded.image.thumbnail(THUMB_SIDE, THUMB_SIDE).to_rgb8();
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 80)
        .encode_image(&small)
        .map_err(|e| e.to_string())?;
    Ok(jpeg)
}

/// Reads the token file and serves; the CLI's entry point.
pub async fn run(
    store: Arc<Store>,
    blobs: BlobStore,
    token_file: &Path,
    addr: SocketAddr,
) -> Result<(), ReviewError> {
    let tokens = load_tokens(token_file)?;
    serve(store, blobs, tokens, addr).await
}
