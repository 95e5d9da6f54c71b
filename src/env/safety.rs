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

    /// Whether a cache entry's files are hashed: reused entries unless checks are disabled,
    /// fresh ones only with `extra_safety_checks`.
    pub fn verifies(&self, freshly_extracted: bool) -> bool {
        self.checks != SafetyChecks::Disabled && (!freshly_extracted || self.extra)
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

    #[test]
    fn fresh_entries_are_hashed_only_with_extra_safety_checks() {
        let default = Safety::default();
        assert!(default.verifies(false));
        assert!(!default.verifies(true));
        let extra = Safety {
            extra: true,
            ..Safety::default()
        };
        assert!(extra.verifies(true));
        let disabled = Safety {
            checks: SafetyChecks::Disabled,
            extra: true,
        };
        assert!(!disabled.verifies(false) && !disabled.verifies(true));
    }
}
