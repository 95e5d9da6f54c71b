//! Content-addressed storage of downloaded bodies: `<store>/<first two hex digits>/<sha256>`, in
//! a local folder or object storage (see [`crate::storage`]), written put-if-absent.

use bytes::Bytes;
use sha2::{Digest, Sha256};

use crate::storage::{Storage, StorageError};

#[derive(Clone, Debug)]
pub struct BlobStore {
    storage: Storage,
}

fn key(sha256: &str) -> String {
    format!("{}/{sha256}", &sha256[..2])
}

impl BlobStore {
    pub fn new(storage: Storage) -> BlobStore {
        BlobStore { storage }
    }

    pub fn storage(&self) -> &Storage {
        &self.storage
    }

    pub async fn contains(&self, sha256: &str) -> Result<bool, StorageError> {
        self.storage.exists(&key(sha256)).await
    }

    /// Stores a body and returns its sha256 (hex).
    pub async fn put(&self, body: Bytes) -> Result<String, StorageError> {
        let sha256 = hex(&Sha256::digest(&body));
        self.storage.put_if_absent(&key(&sha256), body).await?;
        Ok(sha256)
    }

    pub async fn read(&self, sha256: &str) -> Result<Bytes, StorageError> {
        self.storage.get(&key(sha256)).await
    }
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn stores_by_content_and_is_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::new(Storage::Local(dir.path().to_path_buf()));
        let sha = store.put(Bytes::from_static(b"abc")).await.unwrap();
        assert_eq!(
            sha,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(store.put(Bytes::from_static(b"abc")).await.unwrap(), sha);
        assert_eq!(&store.read(&sha).await.unwrap()[..], b"abc");
        assert!(dir.path().join("ba").join(&sha).is_file());
    }
}
