//! The download stage: fetch queued URLs (http, https, file) into the content store.

use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{CONTENT_LENGTH, ETAG, IF_MODIFIED_SINCE, IF_NONE_MATCH, LAST_MODIFIED};
use reqwest::StatusCode;
use tokio::task::JoinSet;

use crate::blobstore::BlobStore;
use crate::decode::{format_name, sniff};
use crate::progress;
use crate::store::{DownloadJob, DownloadOutcome, Stage};
use crate::worker::{Context, StageError, StageResult};

#[derive(Clone, Debug)]
pub struct DownloadOptions {
    /// Requests in flight over all hosts.
    pub concurrency: usize,
    /// Requests in flight to one host: partners' servers are not ours to overload.
    pub per_host: usize,
    /// Whole-request timeout.
    pub timeout: Duration,
    /// Extra attempts after a timeout, connection error or 5xx.
    pub retries: u32,
    /// First retry delay; doubled for each further attempt.
    pub backoff: Duration,
    /// Larger bodies are refused.
    pub max_bytes: u64,
    /// Whether `file://` URLs are read. Off by default: a partner catalog is not trusted to
    /// name files on this machine.
    pub allow_file_urls: bool,
}

impl Default for DownloadOptions {
    fn default() -> Self {
        DownloadOptions {
            concurrency: 32,
            per_host: 4,
            timeout: Duration::from_secs(30),
            retries: 3,
            backoff: Duration::from_millis(500),
            max_bytes: 50 * 1024 * 1024,
            allow_file_urls: false,
        }
    }
}

#[derive(Debug, Default, serde::Serialize)]
pub struct DownloadSummary {
    pub stored: u64,
    pub not_modified: u64,
    pub failed: u64,
}

/// A failed attempt: whether trying again may help, a short reason and the details.
struct Failure {
    retryable: bool,
    reason: String,
    detail: String,
}

impl Failure {
    fn permanent(reason: &str, detail: String) -> Failure {
        Failure {
            retryable: false,
            reason: reason.to_owned(),
            detail,
        }
    }
}

struct Fetched {
    body: Option<Vec<u8>>,
    etag: Option<String>,
    last_modified: Option<String>,
}

/// Downloads queued URLs: claims them fairly over hosts (never more than the fleet-wide
/// per-host limit in flight), fetches them concurrently, and records each batch of finished
/// fetches in one transaction. A slow host holds only its own slots: every other host's URLs
/// keep being claimed as slots free up.
pub async fn run(context: &Context, options: &DownloadOptions) -> StageResult<DownloadSummary> {
    // The HTTP client loads the system's TLS roots, which a machine without a CA store lacks:
    // it is built when the first job that needs the network is claimed, so file:// catalogs
    // run anywhere.
    let mut client: Option<reqwest::Client> = None;
    let store = &context.store;
    let bar = progress::bar(
        store.work_count(Stage::Download).await? as usize,
        "download",
        context.quiet,
    );
    let mut summary = DownloadSummary::default();
    let mut inflight = JoinSet::new();
    let concurrency = options.concurrency.max(1);
    loop {
        if !context.stopping() && inflight.len() < concurrency {
            let claimed = store
                .claim_downloads(
                    &context.owner,
                    concurrency - inflight.len(),
                    context.lease,
                    options.per_host.max(1),
                )
                .await?;
            if claimed.is_empty() && inflight.is_empty() {
                if context.idle(Stage::Download).await? {
                    break;
                }
                continue;
            }
            if client.is_none()
                && claimed
                    .iter()
                    .any(|job| !job.item.1.url.starts_with("file:"))
            {
                client = Some(http_client(options)?);
            }
            for job in claimed {
                let (client, blobs, options) =
                    (client.clone(), context.blobs.clone(), options.clone());
                inflight.spawn(async move {
                    let (attempts, outcome) =
                        fetch_with_retries(client.as_ref(), &blobs, &job.item.1, &options).await;
                    (job, attempts, outcome)
                });
            }
        }
        if inflight.is_empty() {
            if context.stopping() {
                break;
            }
            continue;
        }
        // Wait for a fetch to finish; look again now and then for hosts whose slots other
        // workers freed.
        let first = tokio::select! {
            done = inflight.join_next() => done,
            _ = tokio::time::sleep(Duration::from_millis(100)) => None,
        };
        let mut finished = Vec::new();
        let mut next = first;
        while let Some(done) = next {
            finished.push(done.map_err(|e| StageError::Other(e.to_string()))?);
            next = inflight.try_join_next();
        }
        if finished.is_empty() {
            continue;
        }
        for (job, _, outcome) in &finished {
            let outcome_name = match outcome {
                DownloadOutcome::Stored { .. } => {
                    summary.stored += 1;
                    "stored"
                }
                DownloadOutcome::NotModified => {
                    summary.not_modified += 1;
                    "not-modified"
                }
                DownloadOutcome::Failed { reason, detail } => {
                    summary.failed += 1;
                    tracing::warn!("{}: {reason}: {detail}", job.item.1.url);
                    "failed"
                }
            };
            context.count(Stage::Download, outcome_name, 1);
        }
        let accepted = context
            .retrying(|| store.complete_downloads(&context.owner, &finished))
            .await?;
        context.lost(Stage::Download, finished.len(), accepted);
        bar.inc(finished.len() as u64);
    }
    bar.finish_and_clear();
    Ok(summary)
}

fn http_client(options: &DownloadOptions) -> StageResult<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(options.timeout)
        .connect_timeout(options.timeout)
        .user_agent(concat!("imgpipe/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| StageError::Other(format!("cannot build the HTTP client: {e}")))
}

/// Per-host limits key on scheme, host and port; local files share one key.
pub fn host_key(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(parsed) if parsed.scheme() != "file" => format!(
            "{}://{}:{}",
            parsed.scheme(),
            parsed.host_str().unwrap_or_default(),
            parsed.port_or_known_default().unwrap_or_default()
        ),
        _ => "file".to_owned(),
    }
}

async fn fetch_with_retries(
    client: Option<&reqwest::Client>,
    blobs: &BlobStore,
    job: &DownloadJob,
    options: &DownloadOptions,
) -> (u32, DownloadOutcome) {
    let mut attempts = 0;
    loop {
        attempts += 1;
        let failure = match fetch_once(client, blobs, job, options).await {
            Ok(fetched) => return (attempts, store_body(blobs, fetched).await),
            Err(failure) => failure,
        };
        if !failure.retryable || attempts > options.retries {
            let detail = if attempts > 1 {
                format!("{} (after {attempts} attempts)", failure.detail)
            } else {
                failure.detail
            };
            return (
                attempts,
                DownloadOutcome::Failed {
                    reason: failure.reason,
                    detail,
                },
            );
        }
        tokio::time::sleep(options.backoff * 2u32.pow(attempts - 1)).await;
    }
}

async fn store_body(blobs: &BlobStore, fetched: Fetched) -> DownloadOutcome {
    let Some(body) = fetched.body else {
        return DownloadOutcome::NotModified;
    };
    let Some(format) = sniff(&body) else {
        let prefix: String = String::from_utf8_lossy(&body[..body.len().min(16)])
            .chars()
            .map(|c| if c.is_control() { '.' } else { c })
            .collect();
        return DownloadOutcome::Failed {
            reason: "not-an-image".to_owned(),
            detail: format!(
                "body of {} bytes starts with {prefix:?}, not JPEG, PNG or WebP",
                body.len()
            ),
        };
    };
    let size = body.len() as u64;
    match blobs.put(Bytes::from(body)).await {
        Ok(sha256) => DownloadOutcome::Stored {
            sha256,
            size,
            format: format_name(format).to_owned(),
            etag: fetched.etag,
            last_modified: fetched.last_modified,
        },
        Err(error) => DownloadOutcome::Failed {
            reason: "store-error".to_owned(),
            detail: error.to_string(),
        },
    }
}

async fn fetch_once(
    client: Option<&reqwest::Client>,
    blobs: &BlobStore,
    job: &DownloadJob,
    options: &DownloadOptions,
) -> Result<Fetched, Failure> {
    let url =
        url::Url::parse(&job.url).map_err(|e| Failure::permanent("bad-url", e.to_string()))?;
    if url.scheme() == "file" {
        refuse_file_url_unless_allowed(&url, options)?;
        return fetch_file(&url, options).await;
    }
    let client = client.ok_or_else(|| Failure::permanent("no-http-client", url.to_string()))?;
    let mut request = client.get(url);
    // Conditional only when we still hold the body the validators describe.
    let held = match job.sha256.as_deref() {
        Some(sha) => blobs.contains(sha).await.unwrap_or(false),
        None => false,
    };
    if held {
        if let Some(etag) = &job.etag {
            request = request.header(IF_NONE_MATCH, etag);
        }
        if let Some(modified) = &job.last_modified {
            request = request.header(IF_MODIFIED_SINCE, modified);
        }
    }
    let network = |error: reqwest::Error| {
        let reason = if error.is_timeout() {
            "timeout"
        } else if error.is_connect() {
            "connect-error"
        } else {
            "http-error"
        };
        Failure {
            retryable: true,
            reason: reason.to_owned(),
            detail: error.to_string(),
        }
    };
    let mut response = request.send().await.map_err(network)?;
    let status = response.status();
    if status == StatusCode::NOT_MODIFIED {
        return Ok(Fetched {
            body: None,
            etag: None,
            last_modified: None,
        });
    }
    if !status.is_success() {
        let retryable = status.is_server_error()
            || status == StatusCode::TOO_MANY_REQUESTS
            || status == StatusCode::REQUEST_TIMEOUT;
        return Err(Failure {
            retryable,
            reason: format!("http-{}", status.as_u16()),
            detail: format!("server answered {status}"),
        });
    }
    let header = |name| {
        response
            .headers()
            .get(name)
            .and_then(|v: &reqwest::header::HeaderValue| v.to_str().ok())
            .map(str::to_owned)
    };
    let (etag, last_modified) = (header(ETAG), header(LAST_MODIFIED));
    let declared: Option<u64> = header(CONTENT_LENGTH).and_then(|v| v.parse().ok());
    if let Some(length) = declared.filter(|&length| length > options.max_bytes) {
        return Err(too_large(length, options.max_bytes));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(network)? {
        body.extend_from_slice(&chunk);
        if body.len() as u64 > options.max_bytes {
            return Err(too_large(body.len() as u64, options.max_bytes));
        }
    }
    Ok(Fetched {
        body: Some(body),
        etag,
        last_modified,
    })
}

fn too_large(length: u64, max: u64) -> Failure {
    Failure::permanent(
        "too-large-body",
        format!("body of at least {length} bytes exceeds the maximum of {max} (--max-bytes)"),
    )
}

fn refuse_file_url_unless_allowed(
    url: &url::Url,
    options: &DownloadOptions,
) -> Result<(), Failure> {
    if options.allow_file_urls {
        return Ok(());
    }
    Err(Failure::permanent(
        "file-url-refused",
        format!(
            "{url}: a catalog may not read this machine's files unless --allow-file-urls is given \
             (then --retry-failed fetches it again)"
        ),
    ))
}

async fn fetch_file(url: &url::Url, options: &DownloadOptions) -> Result<Fetched, Failure> {
    let path = url
        .to_file_path()
        .map_err(|()| Failure::permanent("bad-url", format!("{url} is not a local file path")))?;
    let missing = |error: std::io::Error| {
        Failure::permanent("file-error", format!("{}: {error}", path.display()))
    };
    let metadata = tokio::fs::metadata(&path).await.map_err(missing)?;
    if metadata.len() > options.max_bytes {
        return Err(too_large(metadata.len(), options.max_bytes));
    }
    let body = tokio::fs::read(&path).await.map_err(missing)?;
    Ok(Fetched {
        body: Some(body),
        etag: None,
        last_modified: None,
    })
}
