//! In-memory copies of the package archives `krait serve` sends most.
//!
//! `ServeDir` streams a file through tokio's blocking pool, one hop per chunk, copying it from
//! the page cache into a buffer and then into the socket. Most package requests are plain GETs
//! of immutable archives (uploads replace a file by renaming a new one over it), so the server
//! keeps recently sent archives in memory and answers those GETs with the bytes as they are,
//! which hyper writes straight to the socket. Every request still stats the file: a changed
//! size, mtime or inode drops the copy. Ranges and conditional requests other than `ETag`
//! stay with `ServeDir`.

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, Method};
use axum::response::Response;
use bytes::Bytes;
use std::collections::HashMap;
use std::fs::Metadata;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

/// Files larger than this are always streamed from disk.
const MAX_FILE: u64 = 16 * 1024 * 1024;
/// Memory all copies together may take.
const BUDGET: u64 = 256 * 1024 * 1024;

/// What identifies one version of a file on disk.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Version {
    inode: u64,
    device: u64,
    len: u64,
    modified: Option<SystemTime>,
}

impl Version {
    fn of(meta: &Metadata) -> Version {
        Version {
            inode: meta.ino(),
            device: meta.dev(),
            len: meta.len(),
            modified: meta.modified().ok(),
        }
    }
}

struct Held {
    version: Version,
    bytes: Bytes,
}

/// Recently served archives, keyed by their path on disk.
#[derive(Default)]
pub struct HotFiles {
    copies: Mutex<(HashMap<PathBuf, Held>, u64)>,
}

/// Whether `ServeDir` must answer: anything but a plain GET of a package archive.
fn needs_serve_dir(method: &Method, headers: &HeaderMap, path: &Path) -> bool {
    let archive = path
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.ends_with(".conda") || n.ends_with(".tar.bz2"));
    method != Method::GET
        || !archive
        || [
            header::RANGE,
            header::IF_RANGE,
            header::IF_MODIFIED_SINCE,
            header::IF_UNMODIFIED_SINCE,
            header::IF_MATCH,
        ]
        .iter()
        .any(|h| headers.contains_key(h))
}

impl HotFiles {
    /// The `200 OK` for a plain GET of the archive at `path` (whose metadata the caller just
    /// read), or `None` when `ServeDir` should answer.
    pub async fn respond(
        &self,
        method: &Method,
        headers: &HeaderMap,
        path: &Path,
        meta: &Metadata,
        etag: &str,
    ) -> Option<Response> {
        if needs_serve_dir(method, headers, path) || meta.len() > MAX_FILE {
            return None;
        }
        let version = Version::of(meta);
        let bytes = match self.get(path, version) {
            Some(bytes) => bytes,
            None => {
                let owned = path.to_path_buf();
                let read = tokio::task::spawn_blocking(move || {
                    let bytes = std::fs::read(&owned)?;
                    // The file may have been replaced between the stat and the read.
                    let after = std::fs::metadata(&owned)?;
                    Ok::<_, std::io::Error>((Bytes::from(bytes), Version::of(&after)))
                })
                .await
                .ok()?
                .ok()?;
                if read.1 != version {
                    return None;
                }
                self.insert(path, version, read.0.clone());
                read.0
            }
        };
        let content_type = mime_guess::from_path(path)
            .first_raw()
            .unwrap_or("application/octet-stream");
        let mut response = Response::new(Body::from(bytes));
        let out = response.headers_mut();
        out.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        out.insert(header::CONTENT_LENGTH, HeaderValue::from(meta.len()));
        out.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
        if let Some(modified) = version.modified {
            let date = httpdate::fmt_http_date(modified);
            out.insert(header::LAST_MODIFIED, HeaderValue::from_str(&date).ok()?);
        }
        out.insert(header::ETAG, HeaderValue::from_str(etag).ok()?);
        Some(response)
    }

    fn get(&self, path: &Path, version: Version) -> Option<Bytes> {
        let copies = self.copies.lock().expect("not poisoned");
        copies
            .0
            .get(path)
            .filter(|copy| copy.version == version)
            .map(|copy| copy.bytes.clone())
    }

    fn insert(&self, path: &Path, version: Version, bytes: Bytes) {
        let mut guard = self.copies.lock().expect("not poisoned");
        let (copies, used) = &mut *guard;
        let added = bytes.len() as u64;
        if let Some(old) = copies.remove(path) {
            *used -= old.bytes.len() as u64;
        }
        // Over budget: drop copies (in no particular order) until this one fits.
        while *used + added > BUDGET {
            let Some(victim) = copies.keys().next().cloned() else {
                break;
            };
            if let Some(old) = copies.remove(&victim) {
                *used -= old.bytes.len() as u64;
            }
        }
        *used += added;
        copies.insert(path.to_path_buf(), Held { version, bytes });
    }
}
