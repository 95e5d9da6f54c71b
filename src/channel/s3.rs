//! Channels in S3 buckets (`s3://bucket/channel`), written by `krait index`, `krait upload
//! --to`, `krait build --upload-to` and `krait copy` through [`BucketChannel`], and read
//! (`-c s3://bucket/channel`) through rattler's S3 middleware in [`crate::net::http_client`],
//! which presigns each request.
//!
//! Both take their client from rattler's S3 support, so reads and writes find credentials,
//! region and endpoint the same way: the AWS chain (`AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`,
//! `AWS_PROFILE` and `~/.aws/`, SSO, instance and container roles; `AWS_REGION`;
//! `AWS_ENDPOINT_URL` for an S3-compatible server, addressed by path when it is
//! `http://localhost:...`).
//!
//! S3 has no locks: one writer per channel at a time (a `krait serve` host is the answer for
//! many writers). Every object is written whole by one PUT, so a reader sees the old or the new
//! repodata, never a part; archives are written before the repodata that lists them, and
//! deleted after the repodata that no longer does.

use super::files::{cache_control, ChannelFiles, Entry};
use super::index::{IndexError, LABELS, MAIN_LABEL};
use aws_sdk_s3::primitives::ByteStream;
use std::path::{Path, PathBuf};
use url::Url;

/// A channel at a key prefix of an S3 bucket.
#[derive(Debug, Clone)]
pub struct BucketChannel {
    client: aws_sdk_s3::Client,
    bucket: String,
    /// The channel's key prefix without a `/` at either end (empty: the bucket's root).
    prefix: String,
    /// The runtime the blocking [`ChannelFiles`] calls run their requests on.
    runtime: tokio::runtime::Handle,
}

impl BucketChannel {
    /// The channel at `url` (`s3://bucket/channel`), its client made as rattler makes it for
    /// reads. Its methods block on `runtime`: call them outside of it.
    pub fn open(runtime: &tokio::runtime::Handle, url: &Url) -> Result<BucketChannel, IndexError> {
        let bad = |message: &str| IndexError::Remote {
            location: url.to_string(),
            message: message.to_string(),
        };
        let bucket = url
            .host_str()
            .filter(|bucket| !bucket.is_empty())
            .ok_or_else(|| bad("no bucket name: write s3://BUCKET/CHANNEL"))?
            .to_string();
        let prefix = url.path().trim_matches('/').to_string();
        if prefix.split('/').any(|segment| {
            matches!(segment, "." | "..") || (segment.is_empty() && !prefix.is_empty())
        }) {
            return Err(bad("the channel's path has an empty, `.` or `..` segment"));
        }
        let s3 = rattler_networking::s3_middleware::S3::new(
            Default::default(),
            rattler_networking::AuthenticationStorage::empty(),
        );
        let client = runtime
            .block_on(s3.create_s3_client(url.clone()))
            .map_err(|e| bad(&crate::net::error_chain(&e)))?;
        Ok(BucketChannel {
            client,
            bucket,
            prefix,
            runtime: runtime.clone(),
        })
    }

    /// The object key of `path` (relative to the channel).
    fn key(&self, path: &str) -> String {
        match (self.prefix.is_empty(), path.is_empty()) {
            (true, _) => path.to_string(),
            (false, true) => self.prefix.clone(),
            (false, false) => format!("{}/{path}", self.prefix),
        }
    }

    fn url_of(&self, path: &str) -> String {
        format!("s3://{}/{}", self.bucket, self.key(path))
    }

    fn failed<E: std::error::Error + 'static>(&self, path: &str, error: &E) -> IndexError {
        IndexError::Remote {
            location: self.url_of(path),
            message: crate::net::error_chain(error),
        }
    }

    /// The objects directly under `dir` and the names of its "folders" (common prefixes).
    fn list(&self, dir: &str) -> Result<(Vec<Entry>, Vec<String>), IndexError> {
        let prefix = match self.key(dir) {
            key if key.is_empty() => key,
            key => format!("{key}/"),
        };
        self.runtime.block_on(async {
            let mut pages = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(&prefix)
                .delimiter("/")
                .into_paginator()
                .send();
            let (mut files, mut folders) = (Vec::new(), Vec::new());
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| self.failed(dir, &e))?;
                for object in page.contents() {
                    let name = object.key().and_then(|key| key.strip_prefix(&prefix));
                    let Some(name) = name.filter(|name| !name.is_empty()) else {
                        continue;
                    };
                    files.push(Entry {
                        name: name.to_string(),
                        size: object.size().unwrap_or_default().max(0) as u64,
                        mtime_ns: object
                            .last_modified()
                            .map(|time| time.as_nanos().max(0) as u128)
                            .unwrap_or_default(),
                    });
                }
                for common in page.common_prefixes() {
                    let name = common
                        .prefix()
                        .and_then(|p| p.strip_prefix(&prefix))
                        .map(|p| p.trim_end_matches('/'));
                    if let Some(name) = name.filter(|name| !name.is_empty()) {
                        folders.push(name.to_string());
                    }
                }
            }
            files.sort_by(|a, b| a.name.cmp(&b.name));
            folders.sort();
            Ok((files, folders))
        })
    }
}

/// The `Content-Type` of a channel file in a bucket.
fn content_type(path: &str) -> &'static str {
    if path.ends_with(".json") {
        "application/json"
    } else {
        "application/octet-stream"
    }
}

impl ChannelFiles for BucketChannel {
    fn files(&self, dir: &str) -> Result<Vec<Entry>, IndexError> {
        Ok(self.list(dir)?.0)
    }

    fn folders(&self, dir: &str) -> Result<Vec<String>, IndexError> {
        Ok(self.list(dir)?.1)
    }

    fn read(&self, path: &str) -> Result<Option<Vec<u8>>, IndexError> {
        self.runtime.block_on(async {
            let request = self
                .client
                .get_object()
                .bucket(&self.bucket)
                .key(self.key(path));
            match request.send().await {
                Ok(object) => {
                    let body = object.body.collect().await;
                    let body = body.map_err(|e| self.failed(path, &e))?;
                    Ok(Some(body.into_bytes().to_vec()))
                }
                Err(e) if e.as_service_error().is_some_and(|e| e.is_no_such_key()) => Ok(None),
                Err(e) => Err(self.failed(path, &e)),
            }
        })
    }

    fn exists(&self, path: &str) -> Result<bool, IndexError> {
        self.runtime.block_on(async {
            let request = self
                .client
                .head_object()
                .bucket(&self.bucket)
                .key(self.key(path));
            match request.send().await {
                Ok(_) => Ok(true),
                Err(e) if e.as_service_error().is_some_and(|e| e.is_not_found()) => Ok(false),
                Err(e) => Err(self.failed(path, &e)),
            }
        })
    }

    fn write(&self, path: &str, bytes: &[u8]) -> Result<(), IndexError> {
        self.runtime.block_on(async {
            self.client
                .put_object()
                .bucket(&self.bucket)
                .key(self.key(path))
                .content_type(content_type(path))
                .set_cache_control(cache_control(Path::new(path)).map(str::to_string))
                .body(ByteStream::from(bytes.to_vec()))
                .send()
                .await
                .map(drop)
                .map_err(|e| self.failed(path, &e))
        })
    }

    fn remove(&self, path: &str) -> Result<(), IndexError> {
        self.runtime.block_on(async {
            self.client
                .delete_object()
                .bucket(&self.bucket)
                .key(self.key(path))
                .send()
                .await
                .map(drop)
                .map_err(|e| self.failed(path, &e))
        })
    }

    fn lock(&self, _name: &str) -> Result<Option<std::fs::File>, IndexError> {
        Ok(None)
    }

    fn location(&self, path: &str) -> PathBuf {
        PathBuf::from(self.url_of(path))
    }

    fn label(&self, label: &str) -> Box<dyn ChannelFiles> {
        let mut channel = self.clone();
        if label != MAIN_LABEL {
            channel.prefix = self.key(&format!("{LABELS}/{label}"));
        }
        Box::new(channel)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_urls_without_a_bucket_or_with_empty_segments_are_refused() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        for url in ["s3://bucket/a//b", "s3:///a"] {
            let url = Url::parse(url).unwrap();
            let refused = BucketChannel::open(runtime.handle(), &url);
            assert!(
                matches!(refused, Err(IndexError::Remote { .. })),
                "{url} was accepted"
            );
        }
    }
}
