//! Where bodies and outputs live, behind one interface: a local folder (the default; whole-file
//! atomic writes, see [`crate::atomic`]) or object storage (`s3://bucket/prefix`, through the
//! `object_store` crate; credentials and endpoint from the usual `AWS_*` variables, e.g.
//! `AWS_ENDPOINT`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`,
//! `AWS_ALLOW_HTTP`). Content-addressed keys are written put-if-absent: a key that exists
//! already holds the same bytes.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as ObjectPath;
use object_store::prefix::PrefixStore;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions};

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("{location}: {source}")]
    Local {
        location: String,
        source: std::io::Error,
    },
    #[error("{location}: {source}")]
    Object {
        location: String,
        source: object_store::Error,
    },
    #[error("storage {0:?}: expected a folder or s3://BUCKET/PREFIX")]
    Url(String),
}

#[derive(Clone, Debug)]
pub enum Storage {
    Local(PathBuf),
    Object {
        store: Arc<dyn ObjectStore>,
        /// `s3://bucket/prefix`, for messages and recorded locations.
        url: String,
    },
}

impl Storage {
    /// A folder, or `s3://bucket/prefix`.
    pub fn open(location: &str) -> Result<Storage, StorageError> {
        let Some(rest) = location.strip_prefix("s3://") else {
            return Ok(Storage::Local(PathBuf::from(location)));
        };
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(StorageError::Url(location.to_owned()));
        }
        let s3 = AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            .build()
            .map_err(|source| StorageError::Object {
                location: location.to_owned(),
                source,
            })?;
        let prefix = prefix.trim_matches('/');
        let store: Arc<dyn ObjectStore> = if prefix.is_empty() {
            Arc::new(s3)
        } else {
            Arc::new(PrefixStore::new(s3, prefix))
        };
        Ok(Storage::Object {
            store,
            url: location.trim_end_matches('/').to_owned(),
        })
    }

    /// Where `key` lives, as a path or URL.
    pub fn describe(&self, key: &str) -> String {
        match self {
            Storage::Local(root) => root.join(key).display().to_string(),
            Storage::Object { url, .. } => format!("{url}/{key}"),
        }
    }

    fn local_error(&self, key: &str) -> impl FnOnce(std::io::Error) -> StorageError + '_ {
        let location = self.describe(key);
        move |source| StorageError::Local { location, source }
    }

    fn object_error(&self, key: &str) -> impl FnOnce(object_store::Error) -> StorageError + '_ {
        let location = self.describe(key);
        move |source| StorageError::Object { location, source }
    }

    /// Writes `bytes` at `key` unless the key exists (content-addressed keys: same bytes).
    pub async fn put_if_absent(&self, key: &str, bytes: Bytes) -> Result<(), StorageError> {
        match self {
            Storage::Local(root) => {
                let path = root.join(key);
                let error = self.local_error(key);
                tokio::task::spawn_blocking(move || {
                    if path.is_file() {
                        return Ok(());
                    }
                    crate::atomic::write(&path, &bytes)
                })
                .await
                .expect("the write task does not panic")
                .map_err(error)
            }
            Storage::Object { store, .. } => {
                let options = PutOptions {
                    mode: PutMode::Create,
                    ..PutOptions::default()
                };
                match store
                    .put_opts(&ObjectPath::from(key), bytes.into(), options)
                    .await
                {
                    Ok(_) | Err(object_store::Error::AlreadyExists { .. }) => Ok(()),
                    Err(source) => Err(self.object_error(key)(source)),
                }
            }
        }
    }

    /// Writes (or replaces) `bytes` at `key`, atomically.
    pub async fn put(&self, key: &str, bytes: Bytes) -> Result<(), StorageError> {
        match self {
            Storage::Local(root) => {
                let path = root.join(key);
                let error = self.local_error(key);
                tokio::task::spawn_blocking(move || crate::atomic::write(&path, &bytes))
                    .await
                    .expect("the write task does not panic")
                    .map_err(error)
            }
            Storage::Object { store, .. } => store
                .put(&ObjectPath::from(key), bytes.into())
                .await
                .map(|_| ())
                .map_err(self.object_error(key)),
        }
    }

    pub async fn get(&self, key: &str) -> Result<Bytes, StorageError> {
        match self {
            Storage::Local(root) => tokio::fs::read(root.join(key))
                .await
                .map(Bytes::from)
                .map_err(self.local_error(key)),
            Storage::Object { store, .. } => {
                let result = store.get(&ObjectPath::from(key)).await;
                match result {
                    Ok(found) => found.bytes().await.map_err(self.object_error(key)),
                    Err(source) => Err(self.object_error(key)(source)),
                }
            }
        }
    }

    pub async fn exists(&self, key: &str) -> Result<bool, StorageError> {
        match self {
            Storage::Local(root) => Ok(tokio::fs::metadata(root.join(key))
                .await
                .is_ok_and(|m| m.is_file())),
            Storage::Object { store, .. } => match store.head(&ObjectPath::from(key)).await {
                Ok(_) => Ok(true),
                Err(object_store::Error::NotFound { .. }) => Ok(false),
                Err(source) => Err(self.object_error(key)(source)),
            },
        }
    }

    /// Removes temporaries that a killed writer left in a local folder, when older than
    /// `cutoff`: the caller passes a time before which no live worker can have started the
    /// write (the oldest live lease), so a concurrent writer's file is never touched. Object
    /// storage writes are atomic and leave nothing to sweep.
    pub fn sweep(&self, cutoff: SystemTime) -> Result<u64, StorageError> {
        match self {
            Storage::Local(root) => {
                crate::atomic::sweep(root, cutoff).map_err(|source| StorageError::Local {
                    location: root.display().to_string(),
                    source,
                })
            }
            Storage::Object { .. } => Ok(0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn local_put_if_absent_keeps_the_first_body() {
        let dir = tempfile::tempdir().unwrap();
        let storage = Storage::open(dir.path().to_str().unwrap()).unwrap();
        storage
            .put_if_absent("ab/key", Bytes::from_static(b"one"))
            .await
            .unwrap();
        storage
            .put_if_absent("ab/key", Bytes::from_static(b"two"))
            .await
            .unwrap();
        assert_eq!(&storage.get("ab/key").await.unwrap()[..], b"one");
        assert!(storage.exists("ab/key").await.unwrap());
        assert!(!storage.exists("ab/other").await.unwrap());
        storage
            .put("ab/key", Bytes::from_static(b"three"))
            .await
            .unwrap();
        assert_eq!(&storage.get("ab/key").await.unwrap()[..], b"three");
    }
}
