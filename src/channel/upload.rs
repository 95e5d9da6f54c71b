//! `krait upload`: put package archives into a channel served by `krait serve` (URL) or into a
//! channel folder (DIR).
//!
//! Every archive is validated locally first (it decompresses and `info/index.json` agrees with
//! its file name); its subdir comes from `info/index.json`. Over HTTP the archive goes to
//! `PUT <url>/api/upload/<subdir>/<file name>` with its sha256 in `X-Content-Sha256` and the
//! token as `Authorization: Bearer` (a `/t/<token>/` in the URL works too). Into a folder it is
//! written with a temp file and a rename, into an S3 bucket (`s3://bucket/channel`) with one
//! PUT, and that subdir is re-indexed there.
//!
//! The same destinations take deletions (`DELETE <url>/<subdir>/<file name>`) and promotions
//! between labels (`POST <url>/api/copy`); a label's URL is `<url>/label/<label>/`.

use super::files::{ChannelFiles, Folder};
use super::index::IndexError;
use super::index::{is_sharded, read_archive, remove_and_index, store_and_index};
use super::labels::{check_label, copy_between_labels, LabelError};
use super::s3::BucketChannel;
use std::path::{Path, PathBuf};
use url::Url;

/// Where uploads go on a `krait serve` channel: `<prefix><subdir>/<file name>`.
pub const UPLOAD_PREFIX: &str = "/api/upload/";

/// Where a channel's promotions go (`POST`, JSON body): see `krait serve --help`.
pub const COPY_PATH: &str = "/api/copy";

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
    #[error("{0} is not in the channel")]
    NotInChannel(String),
    #[error("{0:?} is not <subdir>/<file name> of a package")]
    #[diagnostic(help("name the package as it is in the channel, e.g. noarch/pkg-1.0-0.conda"))]
    BadTarget(String),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Index(#[from] IndexError),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Label(#[from] LabelError),
}

/// Where archives go.
#[derive(Debug, Clone)]
pub enum Destination {
    Server(Url),
    Folder(PathBuf),
    /// A channel in an S3 bucket: `s3://bucket/channel`.
    Bucket(Url),
}

impl Destination {
    /// `http(s)://...` is a server, `s3://...` a bucket, `file://...` or anything else a folder.
    pub fn parse(text: &str) -> Destination {
        match Url::parse(text) {
            Ok(url) if matches!(url.scheme(), "http" | "https") => Destination::Server(url),
            Ok(url) if url.scheme() == "s3" => Destination::Bucket(url),
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

/// Writes an archive into a channel (folder or bucket) and re-indexes its subdir.
fn upload_to_channel(
    channel: &dyn ChannelFiles,
    archive: &Path,
    force: bool,
) -> Result<Uploaded, UploadError> {
    let local = load(archive)?;
    let target = format!("{}/{}", local.subdir, local.file_name);
    if !force && channel.exists(&target)? {
        return Err(UploadError::Exists(target));
    }
    store_and_index(
        channel,
        &local.subdir,
        &local.file_name,
        &local.bytes,
        is_sharded(channel),
    )?;
    Ok(Uploaded {
        target,
        sha256: local.sha256,
        size: local.bytes.len(),
    })
}

/// `base` with a trailing `/`, so that joining keeps its last segment.
fn as_folder_url(server: &Url) -> Url {
    let mut base = server.clone();
    if !base.path().ends_with('/') {
        base.set_path(&format!("{}/", base.path()));
    }
    base
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
    let mut url = as_folder_url(server)
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
    send(request, &url, &archive.display().to_string()).await?;
    Ok(Uploaded {
        target,
        sha256: local.sha256,
        size: local.bytes.len(),
    })
}

/// Sends a request to a `krait serve` channel; a refusal becomes [`UploadError::Rejected`]
/// about `what`.
async fn send(
    request: reqwest::RequestBuilder,
    url: &Url,
    what: &str,
) -> Result<reqwest::Response, UploadError> {
    let shown = redact_token(url);
    let response = request.send().await.map_err(|e| UploadError::Http {
        url: shown.clone(),
        message: crate::net::error_chain(&e),
    })?;
    let status = response.status();
    if !status.is_success() {
        let message = response.text().await.unwrap_or_default();
        return Err(UploadError::Rejected {
            url: shown,
            file: what.to_string(),
            status: status.as_u16(),
            message: message.trim().trim_start_matches("error: ").to_string(),
        });
    }
    Ok(response)
}

/// Where one upload or deletion goes.
enum Target {
    /// A channel krait writes itself (a folder or a bucket).
    Channel(Box<dyn ChannelFiles>),
    /// A `krait serve` channel's URL.
    Server(Url),
}

/// Sends archives to one destination: the same path for `krait upload` and
/// `krait build --upload-to`.
#[derive(Debug, Clone)]
pub struct Uploader {
    destination: Destination,
    /// The label uploads and deletions go to (the channel itself when `None`).
    label: Option<String>,
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
            label: None,
            token,
            force,
            client,
        }
    }

    /// Uploads and deletions go to `label` of the channel (`main`: the channel itself).
    pub fn with_label(mut self, label: Option<String>) -> Result<Uploader, UploadError> {
        if let Some(label) = &label {
            check_label(label)?;
        }
        self.label = label;
        Ok(self)
    }

    /// The channel krait writes itself (a folder or a bucket; `None` for a server).
    fn channel(
        &self,
        runtime: &tokio::runtime::Runtime,
    ) -> Result<Option<Box<dyn ChannelFiles>>, UploadError> {
        self.check()?;
        Ok(match &self.destination {
            Destination::Server(_) => None,
            Destination::Folder(dir) => Some(Box::new(Folder::new(dir))),
            Destination::Bucket(url) => Some(Box::new(BucketChannel::open(runtime.handle(), url)?)),
        })
    }

    /// The label this uploader writes to: its channel, or its URL on a server.
    fn labelled(&self, runtime: &tokio::runtime::Runtime) -> Result<Target, UploadError> {
        let label = self.label.as_deref().unwrap_or(super::index::MAIN_LABEL);
        if let Some(channel) = self.channel(runtime)? {
            return Ok(Target::Channel(channel.label(label)));
        }
        let Destination::Server(url) = &self.destination else {
            unreachable!("only a server has no channel krait writes itself")
        };
        Ok(Target::Server(match &self.label {
            Some(label) => as_folder_url(url)
                .join(&format!("{}/{label}/", super::index::LABELS))
                .unwrap_or_else(|_| url.clone()),
            None => url.clone(),
        }))
    }

    /// Deletes `<subdir>/<file name>` from the channel (or label); its repodata entry goes
    /// with it.
    pub fn remove(
        &self,
        runtime: &tokio::runtime::Runtime,
        target: &str,
    ) -> Result<(), UploadError> {
        let bad_target = || UploadError::BadTarget(target.to_string());
        let (subdir, file_name) = target.split_once('/').ok_or_else(bad_target)?;
        if subdir.parse::<rattler_conda_types::Subdir>().is_err()
            || rattler_conda_types::package::CondaArchiveType::split_str(file_name).is_none()
            || file_name.contains(['/', '\\'])
            || file_name.starts_with('.')
        {
            return Err(bad_target());
        }
        match self.labelled(runtime)? {
            Target::Channel(channel) => {
                let channel = channel.as_ref();
                match remove_and_index(channel, subdir, file_name, is_sharded(channel))? {
                    true => Ok(()),
                    false => Err(UploadError::NotInChannel(target.to_string())),
                }
            }
            Target::Server(url) => {
                let url = as_folder_url(&url).join(target).map_err(|_| bad_target())?;
                let mut request = self.client.delete(url.clone());
                if let Some(token) = &self.token {
                    request = request.bearer_auth(token);
                }
                runtime.block_on(send(request, &url, target)).map(drop)
            }
        }
    }

    /// Copies the packages of label `from` matching `spec` into label `to`; returns what was
    /// copied (`<subdir>/<file name>`).
    pub fn copy(
        &self,
        runtime: &tokio::runtime::Runtime,
        spec: &str,
        from: &str,
        to: &str,
    ) -> Result<Vec<String>, UploadError> {
        if let Some(channel) = self.channel(runtime)? {
            let shards = is_sharded(channel.as_ref());
            return Ok(copy_between_labels(
                channel.as_ref(),
                from,
                to,
                spec,
                self.force,
                shards,
            )?);
        }
        let Destination::Server(url) = &self.destination else {
            unreachable!("only a server has no channel krait writes itself")
        };
        let url = as_folder_url(url)
            .join(COPY_PATH.trim_start_matches('/'))
            .map_err(|e| UploadError::Http {
                url: url.to_string(),
                message: e.to_string(),
            })?;
        let body = serde_json::json!({
            "spec": spec, "from_label": from, "to_label": to, "force": self.force,
        });
        let mut request = self.client.post(url.clone()).json(&body);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        runtime.block_on(async {
            let response = send(request, &url, spec).await?;
            let answer: serde_json::Value =
                response.json().await.map_err(|e| UploadError::Http {
                    url: redact_token(&url),
                    message: e.to_string(),
                })?;
            Ok(answer["copied"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect())
        })
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
        match self.labelled(runtime)? {
            Target::Channel(channel) => upload_to_channel(channel.as_ref(), archive, self.force),
            Target::Server(url) => runtime.block_on(upload_to_server(
                &self.client,
                &url,
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
