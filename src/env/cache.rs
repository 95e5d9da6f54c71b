//! The package cache (`pkgs_dirs`) as `krait clean` sees it: downloaded archives, the repodata
//! cache and extracted packages no environment links to, found and removed under the cache's lock.

use crate::config::Config;
use rattler_cache::package_cache::{CacheGlobalLock, PackageCache, PackageCacheError};
use std::path::{Path, PathBuf};

/// Which kinds of cached files to look for.
#[derive(Debug, Clone, Copy, Default)]
pub struct CleanSelection {
    /// Downloaded package archives (.conda, .tar.bz2).
    pub tarballs: bool,
    /// The repodata cache (`<first pkgs_dir>/cache`).
    pub index_cache: bool,
    /// Extracted packages that no environment links to.
    pub packages: bool,
}

impl CleanSelection {
    pub fn is_empty(&self) -> bool {
        !(self.tarballs || self.index_cache || self.packages)
    }
}

/// One kind of thing to remove, and what of it was found.
#[derive(Debug)]
pub struct CleanTarget {
    /// conda's JSON key (`tarballs`, `index_cache`, `packages`).
    pub key: &'static str,
    /// What conda calls these in its messages.
    pub what: &'static str,
    pub paths: Vec<PathBuf>,
    /// Total size in bytes.
    pub size: u64,
}

/// Errors while cleaning the cache.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum CacheError {
    #[error("cannot lock the package cache: {0}")]
    Lock(#[source] PackageCacheError),
    #[error("cannot remove {path}: {source}")]
    Remove {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Holds rattler's global package-cache lock: its installer holds it while it fills the cache,
/// so no concurrent install sees a package half gone while this is alive.
pub async fn lock(config: &Config) -> Result<CacheGlobalLock, CacheError> {
    PackageCache::new(config.pkgs_dir())
        .acquire_global_lock()
        .await
        .map_err(CacheError::Lock)
}

fn size_of(path: &Path) -> u64 {
    walkdir::WalkDir::new(path)
        .into_iter()
        .flatten()
        .filter_map(|e| e.metadata().ok())
        .filter(|m| m.is_file())
        .map(|m| m.len())
        .sum()
}

fn entries(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| rd.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    found.sort();
    found
}

fn is_archive(path: &Path) -> bool {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    path.is_file() && (name.ends_with(".conda") || name.ends_with(".tar.bz2"))
}

/// An extracted package that no environment links to: as conda decides, none of its files
/// has another hard link.
#[cfg(unix)]
fn is_unused_package(path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    path.join("info").join("index.json").is_file()
        && walkdir::WalkDir::new(path)
            .into_iter()
            .flatten()
            .filter_map(|e| e.metadata().ok())
            .all(|m| !m.is_file() || m.nlink() <= 1)
}

#[cfg(not(unix))]
fn is_unused_package(_path: &Path) -> bool {
    false
}

/// What `selection` would remove from the configured package cache, in conda's order.
pub fn find(config: &Config, selection: CleanSelection) -> Vec<CleanTarget> {
    let mut targets = Vec::new();
    let mut add = |key, what, paths: Vec<PathBuf>| {
        let size = paths.iter().map(|p| size_of(p)).sum();
        targets.push(CleanTarget {
            key,
            what,
            paths,
            size,
        });
    };
    if selection.tarballs {
        let tarballs = config
            .pkgs_dirs
            .iter()
            .flat_map(|d| entries(d))
            .filter(|p| is_archive(p))
            .collect();
        add("tarballs", "tarball(s)", tarballs);
    }
    if selection.index_cache {
        let cache = config.pkgs_dir().join("cache");
        add("index_cache", "index cache(s)", entries(&cache));
    }
    if selection.packages {
        let packages = config
            .pkgs_dirs
            .iter()
            .flat_map(|d| entries(d))
            .filter(|p| p.is_dir() && is_unused_package(p))
            .collect();
        add("packages", "package(s)", packages);
    }
    targets
}

/// Removes a found archive, cache file or package folder, with the package's sidecar files.
pub fn remove(path: &Path) -> Result<(), CacheError> {
    remove_entry(path).map_err(|source| CacheError::Remove {
        path: path.to_path_buf(),
        source,
    })
}

fn remove_entry(path: &Path) -> std::io::Result<()> {
    if path.is_dir() {
        std::fs::remove_dir_all(path)?;
        // rattler's cache keeps a lock file next to each package folder, krait its
        // verification stamp (env::safety).
        for sidecar in [".lock", ".krait-verified"] {
            let mut file = path.as_os_str().to_owned();
            file.push(sidecar);
            let file = PathBuf::from(file);
            if file.is_file() {
                std::fs::remove_file(file)?;
            }
        }
        Ok(())
    } else {
        std::fs::remove_file(path)
    }
}
