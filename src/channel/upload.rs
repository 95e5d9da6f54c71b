//! `krait upload`: put package archives into a channel served by `krait serve` (URL) or into a
//! channel folder (DIR).
//!
//! Every archive is validated locally first (it decompresses and `info/index.json` agrees with
//! its file name); its subdir comes from `info/index.json`. Over HTTP the archive goes to
//! `PUT <url>/api/upload/<subdir>/<file name>` with its sha256 in `X-Content-Sha256` and the
//! token as `Authorization: Bearer` (a `/t/<token>/` in the URL works too). Into a folder it is
//! written with a temp file and a rename and that subdir is re-indexed.

use super::index::{read_archive, store_and_index, IndexError};
use std::path::{Path, PathBuf};
use url::Url;

/// Where uploads go on a `krait serve` channel: `<prefix><subdir>/<file name>`.
pub const UPLOAD_PREFIX: &str = "/api/upload/";

/// The header a client may send with the hex sha256 of an upload's body.
pub const SHA256_HEADER: &str = "x-content-sha256";

/// Errors of an upload.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum UploadError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a valid package: {reason}")]
    #[diagnostic(help("upload .conda or .tar.bz2 archives named <name>-<version>-<build>"))]
    Invalid { path: PathBuf, reason: String },
    #[error("{0} already exists in the channel")]
    #[diagnostic(help("pass --force to replace it"))]
    Exists(String),
    #[error("channel folder {0} does not exist")]
    #[diagnostic(help("create it (or run `krait index` on it) first"))]
    MissingChannel(PathBuf),
    #[error("cannot reach {url}: {message}")]
    Http { url: String, message: String },
    #[error("{url} refused {file}: HTTP {status}: {message}")]
    Rejected {
        url: String,
        file: String,
        status: u16,
        message: String,
    },
    #[error(transparent)]
    #[diagnostic(transparent)]
    Index(#[from] IndexError),
}

/// Where archives go.
#[derive(Debug, Clone)]
pub enum Destination {
    Server(Url),
    Folder(PathBuf),
}

impl Destination {
    /// `http(s)://...` is a server, `file://...` or anything else a folder.
    pub fn parse(text: &str) -> Destination {
        match Url::parse(text) {
            Ok(url) if matches!(url.scheme(), "http" | "https") => Destination::Server(url),
            Ok(url) if url.scheme() == "file" => url
                .to_file_path()
                .map(Destination::Folder)
                .unwrap_or_else(|_| Destination::Folder(PathBuf::from(text))),
            _ => Destination::Folder(PathBuf::from(text)),
        }
    }
}

/// One uploaded archive.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Uploaded {
    /// `<subdir>/<file name>`.
    pub target: String,
    pub sha256: String,
    pub size: usize,
}

/// An archive read and checked locally.
struct LocalArchive {
    file_name: String,
    subdir: String,
    bytes: Vec<u8>,
    sha256: String,
}

fn load(path: &Path) -> Result<LocalArchive, UploadError> {
    let bytes = std::fs::read(path).map_err(|source| UploadError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let record = read_archive(&bytes, &file_name).map_err(|reason| UploadError::Invalid {
        path: path.to_path_buf(),
        reason,
    })?;
    // The subdir becomes a folder of the channel: only a known platform name may.
    if record
        .subdir
        .parse::<rattler_conda_types::Subdir>()
        .is_err()
    {
        return Err(UploadError::Invalid {
            path: path.to_path_buf(),
            reason: format!(
                "info/index.json names the subdir {:?}, which is not a conda platform (noarch, linux-64, osx-arm64, ...)",
                record.subdir
            ),
        });
    }
    let sha256 =
        hex::encode(rattler_digest::compute_bytes_digest::<rattler_digest::Sha256>(&bytes));
    Ok(LocalArchive {
        file_name,
        subdir: record.subdir,
        bytes,
        sha256,
    })
}

/// Copies an archive into a channel folder and re-indexes its subdir.
pub fn upload_to_folder(
    channel: &Path,
    archive: &Path,
    force: bool,
) -> Result<Uploaded, UploadError> {
    if !channel.is_dir() {
        return Err(UploadError::MissingChannel(channel.to_path_buf()));
    }
    let local = load(archive)?;
    let target = format!("{}/{}", local.subdir, local.file_name);
    let path = channel.join(&local.subdir).join(&local.file_name);
    if path.exists() && !force {
        return Err(UploadError::Exists(target));
    }
    store_and_index(channel, &local.subdir, &path, &local.bytes)?;
    Ok(Uploaded {
        target,
        sha256: local.sha256,
        size: local.bytes.len(),
    })
}

/// Sends an archive to a `krait serve` channel.
pub async fn upload_to_server(
    client: &reqwest::Client,
    server: &Url,
    token: Option<&str>,
    archive: &Path,
    force: bool,
) -> Result<Uploaded, UploadError> {
    let local = load(archive)?;
    let target = format!("{}/{}", local.subdir, local.file_name);
    let mut base = server.clone();
    if !base.path().ends_with('/') {
        base.set_path(&format!("{}/", base.path()));
    }
    let mut url = base
        .join(&format!(
            "{}{target}",
            UPLOAD_PREFIX.trim_start_matches('/')
        ))
        .map_err(|e| UploadError::Http {
            url: server.to_string(),
            message: e.to_string(),
        })?;
    if force {
        url.set_query(Some("force=true"));
    }
    let mut request = client
        .put(url.clone())
        .header(SHA256_HEADER, &local.sha256)
        .body(local.bytes.clone());
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let shown = redact_token(&url);
    let response = request.send().await.map_err(|e| UploadError::Http {
        url: shown.clone(),
        message: crate::net::error_chain(&e),
    })?;
    let status = response.status();
    if !status.is_success() {
        let message = response.text().await.unwrap_or_default();
        return Err(UploadError::Rejected {
            url: shown,
            file: archive.display().to_string(),
            status: status.as_u16(),
            message: message.trim().trim_start_matches("error: ").to_string(),
        });
    }
    Ok(Uploaded {
        target,
        sha256: local.sha256,
        size: local.bytes.len(),
    })
}

/// Sends archives to one destination: the same path for `krait upload` and
/// `krait build --upload-to`.
#[derive(Debug, Clone)]
pub struct Uploader {
    destination: Destination,
    token: Option<String>,
    force: bool,
    client: reqwest::Client,
}

impl Uploader {
    /// `client` carries the network settings (see `net::network_client`).
    pub fn new(
        destination: Destination,
        token: Option<String>,
        force: bool,
        client: reqwest::Client,
    ) -> Uploader {
        Uploader {
            destination,
            token,
            force,
            client,
        }
    }

    /// Fails early (before a long build, say) when the destination folder does not exist.
    pub fn check(&self) -> Result<(), UploadError> {
        match &self.destination {
            Destination::Folder(dir) if !dir.is_dir() => {
                Err(UploadError::MissingChannel(dir.clone()))
            }
            _ => Ok(()),
        }
    }

    pub fn upload(
        &self,
        runtime: &tokio::runtime::Runtime,
        archive: &Path,
    ) -> Result<Uploaded, UploadError> {
        match &self.destination {
            Destination::Folder(dir) => upload_to_folder(dir, archive, self.force),
            Destination::Server(url) => runtime.block_on(upload_to_server(
                &self.client,
                url,
                self.token.as_deref(),
                archive,
                self.force,
            )),
        }
    }
}

/// A URL as it may be printed: the `/t/<token>/` segment masked.
fn redact_token(url: &Url) -> String {
    crate::config::mask_token(url.as_str(), "********")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations_are_servers_only_for_http() {
        assert!(matches!(
            Destination::parse("http://127.0.0.1:8080/"),
            Destination::Server(_)
        ));
        assert!(matches!(
            Destination::parse("/srv/channel"),
            Destination::Folder(_)
        ));
        assert!(matches!(
            Destination::parse("file:///srv/channel"),
            Destination::Folder(p) if p == Path::new("/srv/channel")
        ));
    }

    #[test]
    fn tokens_in_urls_are_masked() {
        let url = Url::parse("http://h:1/t/secret/api/upload/noarch/a-1-0.conda").unwrap();
        assert_eq!(
            redact_token(&url),
            "http://h:1/t/********/api/upload/noarch/a-1-0.conda"
        );
    }
}
