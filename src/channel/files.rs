//! Where a channel's files live: a folder on disk ([`Folder`]) or a prefix of an S3 bucket
//! ([`super::s3::BucketChannel`]). Indexing, uploads, deletions and label copies are written
//! once against [`ChannelFiles`] and work on both.
//!
//! Paths are relative to the channel and use `/` (`noarch/repodata.json`); callers build them
//! from validated names only (subdirs that parse as platforms, archive file names, labels
//! checked by `labels::check_label`).

use super::index::IndexError;
use super::s3::BucketChannel;
use std::path::{Path, PathBuf};

/// A file directly in one folder of a channel.
#[derive(Debug, Clone)]
pub struct Entry {
    pub name: String,
    pub size: u64,
    /// Modification time in nanoseconds since the epoch (0 when unknown): with the size, what
    /// tells a changed file from an unchanged one.
    pub mtime_ns: u128,
}

/// The file operations a channel needs, on disk or in object storage. Every write replaces the
/// whole file at once: a reader sees the old bytes or the new ones, never a part.
pub trait ChannelFiles: Sync {
    /// The files directly in `dir` (`""` is the channel itself); none when `dir` is absent.
    fn files(&self, dir: &str) -> Result<Vec<Entry>, IndexError>;
    /// The names of the folders directly in `dir`, sorted; none when `dir` is absent. For the
    /// channel itself (`""`) a missing channel is an error.
    fn folders(&self, dir: &str) -> Result<Vec<String>, IndexError>;
    /// The bytes of `path`, or `None` when there is no such file.
    fn read(&self, path: &str) -> Result<Option<Vec<u8>>, IndexError>;
    fn exists(&self, path: &str) -> Result<bool, IndexError>;
    /// Writes `path` whole (creating its folders).
    fn write(&self, path: &str, bytes: &[u8]) -> Result<(), IndexError>;
    /// Removes `path`; a file that is not there is not an error.
    fn remove(&self, path: &str) -> Result<(), IndexError>;
    /// Holds a lock named `name` for this channel until the returned guard is dropped, where
    /// the storage has locks (a folder); object storage has none: one writer at a time there.
    fn lock(&self, name: &str) -> Result<Option<std::fs::File>, IndexError>;
    /// `path` as shown to users (a file path or an `s3://` URL).
    fn location(&self, path: &str) -> PathBuf;
    /// The channel of `label` (`<channel>/label/<label>/`; `main` is the channel itself).
    fn label(&self, label: &str) -> Box<dyn ChannelFiles>;
}

/// What clients are told about caching a channel file, wherever it is served from (`krait
/// serve`, an S3 bucket): repodata, the shard index and channeldata change with every upload
/// and deletion, so keep them but ask before each use; a shard's name is the hash of its
/// content; archives get nothing.
pub fn cache_control(path: &Path) -> Option<&'static str> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    if name.ends_with(".conda") || name.ends_with(".tar.bz2") {
        None
    } else if path
        .parent()
        .is_some_and(|p| p.ends_with(super::shards::SHARDS_DIR))
    {
        Some("public, max-age=31536000, immutable")
    } else {
        Some("public, max-age=0, must-revalidate")
    }
}

/// The channel named on a command line: `s3://bucket/channel`, or a folder that must exist.
pub fn open_channel(
    text: &str,
    runtime: &tokio::runtime::Handle,
) -> Result<Box<dyn ChannelFiles>, IndexError> {
    match url::Url::parse(text) {
        Ok(url) if url.scheme() == "s3" => Ok(Box::new(BucketChannel::open(runtime, &url)?)),
        _ => {
            let root = PathBuf::from(text);
            if !root.is_dir() {
                return Err(IndexError::MissingChannel(root));
            }
            Ok(Box::new(Folder::new(root)))
        }
    }
}

/// A channel folder on disk.
#[derive(Debug, Clone)]
pub struct Folder {
    root: PathBuf,
}

impl Folder {
    pub fn new(root: impl Into<PathBuf>) -> Folder {
        Folder { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn read_dir(&self, dir: &str) -> Result<Option<std::fs::ReadDir>, IndexError> {
        let path = self.root.join(dir);
        match std::fs::read_dir(&path) {
            Ok(entries) => Ok(Some(entries)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !dir.is_empty() => Ok(None),
            Err(_) if dir.is_empty() && !self.root.is_dir() => {
                Err(IndexError::MissingChannel(self.root.clone()))
            }
            Err(source) => Err(IndexError::Io { path, source }),
        }
    }
}

impl ChannelFiles for Folder {
    fn files(&self, dir: &str) -> Result<Vec<Entry>, IndexError> {
        let Some(entries) = self.read_dir(dir)? else {
            return Ok(Vec::new());
        };
        let io = |source| IndexError::Io {
            path: self.root.join(dir),
            source,
        };
        let mut files = Vec::new();
        for entry in entries {
            let entry = entry.map_err(io)?;
            let meta = entry.metadata().map_err(io)?;
            if meta.is_file() {
                files.push(Entry {
                    name: entry.file_name().to_string_lossy().into_owned(),
                    size: meta.len(),
                    mtime_ns: super::index::mtime_ns(&meta),
                });
            }
        }
        files.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(files)
    }

    fn folders(&self, dir: &str) -> Result<Vec<String>, IndexError> {
        let Some(entries) = self.read_dir(dir)? else {
            return Ok(Vec::new());
        };
        let mut folders: Vec<String> = entries
            .flatten()
            .filter(|entry| entry.path().is_dir())
            .map(|entry| entry.file_name().to_string_lossy().into_owned())
            .collect();
        folders.sort();
        Ok(folders)
    }

    fn read(&self, path: &str) -> Result<Option<Vec<u8>>, IndexError> {
        let path = self.root.join(path);
        match std::fs::read(&path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(IndexError::Io { path, source }),
        }
    }

    fn exists(&self, path: &str) -> Result<bool, IndexError> {
        Ok(self.root.join(path).is_file())
    }

    fn write(&self, path: &str, bytes: &[u8]) -> Result<(), IndexError> {
        let path = self.root.join(path);
        let failed = |source| IndexError::Write {
            path: path.clone(),
            source,
        };
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(failed)?;
        }
        crate::fs::write_atomic(&path, bytes).map_err(failed)
    }

    fn remove(&self, path: &str) -> Result<(), IndexError> {
        let path = self.root.join(path);
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(IndexError::Write { path, source: e })
            }
            _ => Ok(()),
        }
    }

    fn lock(&self, name: &str) -> Result<Option<std::fs::File>, IndexError> {
        let dir = self.root.join(super::index::CACHE_DIR);
        let path = dir.join(format!("{name}.lock"));
        let failed = |source| IndexError::Write {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(&dir).map_err(failed)?;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(failed)?;
        file.lock().map_err(failed)?;
        Ok(Some(file))
    }

    fn location(&self, path: &str) -> PathBuf {
        self.root.join(path)
    }

    fn label(&self, label: &str) -> Box<dyn ChannelFiles> {
        Box::new(Folder::new(super::index::label_folder(&self.root, label)))
    }
}
