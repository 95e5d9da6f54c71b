//! What krait checks in the package cache before linking, after conda's `safety_checks` and
//! `extra_safety_checks`.
//!
//! An archive is checked against the sha256 of its repodata record when it is fetched. A
//! cache entry that is *reused* is checked file by file: the sha256 of every file against
//! `info/paths.json` (an mtime is no proof: a same-size edit with the mtime set back would
//! pass). A modified entry is extracted again from its archive; if the fresh copy does not
//! match either (the package contradicts itself), `safety_checks` decides: `enabled` refuses
//! it, `warn` (conda's default) says so and links it, `disabled` checks nothing at all.
//! `extra_safety_checks: true` also checks entries just extracted.
//!
//! Hashing every reused byte would double the time of a warm `create`, so krait remembers
//! when it last knew an entry good: after a transaction links it, the newest inode change
//! time (ctime) of its files goes into `<entry>.krait-verified`. Any write, `chmod`, or
//! `touch` that sets the mtime back moves a file's ctime to the present, and no unprivileged
//! call sets it back; an entry whose files are no newer than its stamp is unchanged and is not
//! hashed again. (Hard links into environments move the ctime too, which is why the stamp is
//! taken after linking. On kernels without fine-grained timestamps, an edit in the same clock
//! tick as krait's own last look at the entry would share its ctime.)

use crate::config::SafetyChecks;
use rattler_cache::package_cache::{CacheReporter, PackageCache};
use rattler_cache::validation::{validate_package_directory_from_paths, ValidationMode};
use rattler_conda_types::package::{ArchiveIdentifier, PathsJson};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

/// The two `.condarc` keys together.
#[derive(Debug, Clone, Copy, Default)]
pub struct Safety {
    pub checks: SafetyChecks,
    pub extra: bool,
}

impl Safety {
    pub fn from_config(config: &crate::config::Config) -> Safety {
        Safety {
            checks: config.safety_checks,
            extra: config.extra_safety_checks,
        }
    }

    /// Whether krait vouches for what it links: not with `safety_checks: disabled`.
    pub fn checks(&self) -> bool {
        self.checks != SafetyChecks::Disabled
    }

    /// Whether a cache entry's files are hashed before they are linked: a reused entry whose
    /// files changed since its stamp, a fresh one only with `extra_safety_checks`; none when
    /// checks are disabled.
    pub async fn needs_hashing(&self, entry: &Path, paths: &PathsJson, fresh: bool) -> bool {
        if !self.checks() || fresh {
            return self.checks() && self.extra;
        }
        let (entry, paths) = (entry.to_path_buf(), paths.clone());
        tokio::task::spawn_blocking(move || !unchanged_since_stamp(&entry, &paths))
            .await
            .unwrap_or(true)
    }

    /// What a package whose own files contradict its `paths.json` gets: an error with
    /// `enabled`, a warning otherwise.
    pub fn inconsistent(&self, name: &str, problem: &str) -> Result<(), String> {
        let message = format!("{name}: {problem}, although it was just extracted from its archive: the package's files do not match its info/paths.json");
        match self.checks {
            SafetyChecks::Enabled => Err(format!("{message} (safety_checks: enabled)")),
            _ => {
                tracing::warn!("{message}; linking it anyway (safety_checks: warn)");
                Ok(())
            }
        }
    }
}

/// Hashes every file of a cache entry against its `paths.json`; the error names the first
/// file that differs.
pub async fn verify_entry(dir: &Path, paths: &PathsJson) -> Result<(), String> {
    let (dir, paths) = (dir.to_path_buf(), paths.clone());
    tokio::task::spawn_blocking(move || {
        validate_package_directory_from_paths(&dir, &paths, ValidationMode::Full)
            .map(drop)
            .map_err(|(path, e)| format!("{}: {}", path.display(), crate::net::error_chain(&e)))
    })
    .await
    .map_err(|e| e.to_string())?
}

/// Where an entry's verification stamp lives: next to the entry, as rattler's `.lock`.
fn stamp_path(entry: &Path) -> PathBuf {
    let mut path = entry.as_os_str().to_owned();
    path.push(".krait-verified");
    PathBuf::from(path)
}

/// The newest ctime (in nanoseconds) among an entry's files, or `None` if one is missing.
fn newest_change(entry: &Path, paths: &PathsJson) -> Option<i128> {
    use std::os::unix::fs::MetadataExt;
    paths
        .paths
        .iter()
        .map(|file| {
            let meta = std::fs::symlink_metadata(entry.join(&file.relative_path)).ok()?;
            Some(i128::from(meta.ctime()) * 1_000_000_000 + i128::from(meta.ctime_nsec()))
        })
        .try_fold(0, |newest, ctime| Some(newest.max(ctime?)))
}

/// Whether no file of the entry changed since krait last stamped it good.
pub fn unchanged_since_stamp(entry: &Path, paths: &PathsJson) -> bool {
    let Some(stamp) = std::fs::read_to_string(stamp_path(entry))
        .ok()
        .and_then(|text| text.trim().parse::<i128>().ok())
    else {
        return false;
    };
    newest_change(entry, paths).is_some_and(|newest| newest <= stamp)
}

/// Records that the entry's files, as they are now, are good (their content was just checked,
/// or came from an archive whose sha256 was). Best effort: a read-only cache stays unstamped
/// and is hashed each time.
pub fn stamp_good(entry: &Path, paths: &PathsJson) {
    let Some(newest) = newest_change(entry, paths) else {
        return;
    };
    if let Err(e) = crate::fs::write_atomic(&stamp_path(entry), newest.to_string().as_bytes()) {
        tracing::debug!("cannot stamp {}: {e}", entry.display());
    }
}

/// Tells whether a `get_or_fetch` call downloaded or extracted the package (rather than
/// reusing the cache entry): rattler reports every download it starts.
#[derive(Default)]
pub struct FreshFetch(AtomicBool);

impl FreshFetch {
    pub fn mark(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
    pub fn happened(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

impl CacheReporter for FreshFetch {
    fn on_validate_start(&self) -> usize {
        0
    }
    fn on_validate_complete(&self, _index: usize) {}
    fn on_download_start(&self) -> usize {
        self.mark();
        0
    }
    fn on_download_progress(&self, _index: usize, _progress: u64, _total: Option<u64>) {}
    fn on_download_completed(&self, _index: usize) {}
}

/// Deletes the temporary folders (`.<name>-<version>-<build>XXXXXX`) that rattler extracts
/// packages into before renaming them into place, left behind when a krait process was
/// killed mid-fetch. The caller holds the cache's global lock, so no fetch is using them.
pub fn remove_abandoned_extractions(cache: &PackageCache) -> Vec<PathBuf> {
    let (_, writable) = cache.split_layers();
    let mut removed = Vec::new();
    for layer in writable {
        let Ok(entries) = std::fs::read_dir(layer.path()) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if is_extraction_folder(&name) && entry.file_type().is_ok_and(|t| t.is_dir()) {
                let path = entry.path();
                if std::fs::remove_dir_all(&path).is_ok() {
                    removed.push(path);
                }
            }
        }
    }
    removed
}

/// `.` + a package's `name-version-build` + tempfile's six random characters.
fn is_extraction_folder(name: &str) -> bool {
    let Some(rest) = name.strip_prefix('.') else {
        return false;
    };
    let Some(stem) = rest.char_indices().rev().nth(5).map(|(at, _)| &rest[..at]) else {
        return false;
    };
    !stem.is_empty() && stem.parse::<ArchiveIdentifier>().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn only_rattler_extraction_folders_are_recognised() {
        assert!(is_extraction_folder(".numpy-1.26.4-py312h0_0Ab3xYz"));
        assert!(is_extraction_folder(".libb-1.0-h0_0q1w2e3"));
        for other in [
            ".cache.lock",
            ".trash",
            "numpy-1.26.4-py312h0_0",
            ".krait",
            ".",
        ] {
            assert!(!is_extraction_folder(other), "{other}");
        }
    }

    #[tokio::test]
    async fn entries_are_hashed_unless_stamped_fresh_or_disabled() {
        let dir = tempfile::tempdir().unwrap();
        let entry = dir.path().join("pkg-1.0-0");
        std::fs::create_dir_all(entry.join("share")).unwrap();
        std::fs::write(entry.join("share/a"), "a").unwrap();
        let paths: PathsJson = serde_json::from_value(serde_json::json!({
            "paths": [{"_path": "share/a", "path_type": "hardlink", "size_in_bytes": 1}],
            "paths_version": 1
        }))
        .unwrap();
        let default = Safety::default();
        let extra = Safety {
            extra: true,
            ..Safety::default()
        };
        let disabled = Safety {
            checks: SafetyChecks::Disabled,
            extra: true,
        };
        assert!(default.needs_hashing(&entry, &paths, false).await);
        assert!(!default.needs_hashing(&entry, &paths, true).await);
        assert!(extra.needs_hashing(&entry, &paths, true).await);
        assert!(!disabled.needs_hashing(&entry, &paths, false).await);
        stamp_good(&entry, &paths);
        assert!(!default.needs_hashing(&entry, &paths, false).await);
        // Any change moves the ctime past the stamp, a chmod as much as a write.
        std::thread::sleep(std::time::Duration::from_millis(20));
        let file = entry.join("share/a");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(default.needs_hashing(&entry, &paths, false).await);
        stamp_good(&entry, &paths);
        std::fs::remove_file(&file).unwrap();
        assert!(default.needs_hashing(&entry, &paths, false).await);
    }
}
