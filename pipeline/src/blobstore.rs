//! Content-addressed storage of downloaded bodies: `<store>/<first two hex digits>/<sha256>`,
//! written atomically (see [`crate::atomic`]).

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

#[derive(Debug, thiserror::Error)]
#[error("content store {path}: {source}")]
pub struct BlobStoreError {
    path: String,
    source: std::io::Error,
}

#[derive(Clone, Debug)]
pub struct BlobStore {
    root: PathBuf,
}

impl BlobStore {
    pub fn new(root: &Path) -> BlobStore {
        BlobStore {
            root: root.to_path_buf(),
        }
    }

    pub fn path(&self, sha256: &str) -> PathBuf {
        self.root.join(&sha256[..2]).join(sha256)
    }

    pub fn contains(&self, sha256: &str) -> bool {
        self.path(sha256).is_file()
    }

    /// Stores a body and returns its sha256 (hex).
    pub fn put(&self, body: &[u8]) -> Result<String, BlobStoreError> {
        let sha256 = hex(&Sha256::digest(body));
        let target = self.path(&sha256);
        if target.is_file() {
            return Ok(sha256);
        }
        let error = |source| BlobStoreError {
            path: target.display().to_string(),
            source,
        };
        crate::atomic::write(&target, body).map_err(error)?;
        Ok(sha256)
    }

    /// Removes temporaries a killed run left behind.
    pub fn sweep(&self) -> Result<(), BlobStoreError> {
        crate::atomic::sweep(&self.root).map_err(|source| BlobStoreError {
            path: self.root.display().to_string(),
            source,
        })
    }

    pub fn read(&self, sha256: &str) -> Result<Vec<u8>, BlobStoreError> {
        let path = self.path(sha256);
        std::fs::read(&path).map_err(|source| BlobStoreError {
            path: path.display().to_string(),
            source,
        })
    }
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stores_by_content_and_is_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::new(dir.path());
        let sha = store.put(b"abc").unwrap();
        assert_eq!(
            sha,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(store.put(b"abc").unwrap(), sha);
        assert_eq!(store.read(&sha).unwrap(), b"abc");
        assert!(store.path(&sha).starts_with(dir.path().join("ba")));
    }
}
