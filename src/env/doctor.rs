//! `krait doctor`: an environment's records against its files, as `conda doctor` reports them.
//!
//! Missing files (a record lists a path that is gone), altered files (a file whose sha256 is
//! no longer the `sha256_in_prefix`, or `sha256`, its record noted), files no record owns (left
//! by an interrupted tool, or added by hand), and whether `~/.conda/environments.txt` lists
//! the environment.

use super::prefix::{self, PrefixError};
use rattler_conda_types::prefix_record::PathType;
use rattler_conda_types::PrefixRecord;
use rayon::prelude::*;
use serde::Serialize;
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

/// What `krait doctor` found.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub prefix: PathBuf,
    /// Per record (`name-version-build`, as conda names it): paths it lists that are gone.
    pub missing_files: BTreeMap<String, Vec<String>>,
    /// Per record: files whose content is not what was linked.
    pub altered_files: BTreeMap<String, Vec<String>>,
    /// Files and symlinks no record lists (outside `conda-meta/` and `__pycache__/`).
    pub unowned_files: Vec<String>,
    pub listed_in_environments_txt: bool,
}

impl Report {
    /// Whether the records and the files agree.
    pub fn healthy(&self) -> bool {
        self.missing_files.is_empty()
            && self.altered_files.is_empty()
            && self.unowned_files.is_empty()
    }

    /// conda doctor's text: one block per check, with a mark.
    pub fn text(&self) -> String {
        let mut out = format!(
            "Environment Health Report for: {}\n\n",
            self.prefix.display()
        );
        let per_record =
            |out: &mut String, title: &str, none: &str, found: &BTreeMap<String, Vec<String>>| {
                if found.is_empty() {
                    out.push_str(&format!("{OK_MARK} {none}\n\n"));
                    return;
                }
                out.push_str(&format!("{X_MARK} {title}:\n\n"));
                for (record, paths) in found {
                    out.push_str(&format!("{record}: {}\n", paths.len()));
                    for path in paths {
                        out.push_str(&format!("  {path}\n"));
                    }
                    out.push('\n');
                }
            };
        per_record(
            &mut out,
            "Missing Files",
            "There are no packages with missing files.",
            &self.missing_files,
        );
        per_record(
            &mut out,
            "Altered Files",
            "There are no packages with altered files.",
            &self.altered_files,
        );
        if self.unowned_files.is_empty() {
            out.push_str(&format!(
                "{OK_MARK} There are no files that no package owns.\n\n"
            ));
        } else {
            out.push_str(&format!(
                "{X_MARK} Files no package owns: {}\n\n",
                self.unowned_files.len()
            ));
            for path in &self.unowned_files {
                out.push_str(&format!("  {path}\n"));
            }
            out.push('\n');
        }
        if self.listed_in_environments_txt {
            out.push_str(&format!(
                "{OK_MARK} The environment is listed in the environments.txt file.\n"
            ));
        } else {
            out.push_str(&format!(
                "{X_MARK} The environment is not listed in the environments.txt file.\n"
            ));
        }
        out
    }
}

const OK_MARK: &str = "✅";
const X_MARK: &str = "❌";

/// Examines an environment (the caller holds its lock, so no transaction is under way).
pub fn examine(prefix: &Path) -> Result<Report, PrefixError> {
    let records = prefix::installed(prefix)?;
    let mut owned = HashSet::new();
    let mut missing_files = BTreeMap::new();
    for record in &records {
        let paths = owned_paths(record);
        let missing: Vec<String> = paths
            .iter()
            .filter(|p| std::fs::symlink_metadata(prefix.join(p)).is_err())
            .map(|p| p.display().to_string())
            .collect();
        if !missing.is_empty() {
            missing_files.insert(record_name(record), missing);
        }
        owned.extend(paths);
    }
    let altered_files = altered(prefix, &records);
    let unowned_files = unowned(prefix, &owned);
    let here = prefix::absolute(prefix);
    Ok(Report {
        prefix: prefix.to_path_buf(),
        missing_files,
        altered_files,
        unowned_files,
        listed_in_environments_txt: prefix::registered().contains(&here),
    })
}

/// conda's key for a record: its `conda-meta` file's stem.
fn record_name(record: &PrefixRecord) -> String {
    let p = &record.repodata_record.package_record;
    format!("{}-{}-{}", p.name.as_normalized(), p.version, p.build)
}

/// The files of the prefix that none of `records` lists (see [`unowned`]), relative to it.
pub fn unowned_files(prefix: &Path, records: &[PrefixRecord]) -> Vec<String> {
    let owned: HashSet<PathBuf> = records.iter().flat_map(owned_paths).collect();
    unowned(prefix, &owned)
}

/// Every path a record lists: `files` and `paths_data`.
fn owned_paths(record: &PrefixRecord) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = record.files.clone();
    for entry in &record.paths_data.paths {
        if !paths.contains(&entry.relative_path) {
            paths.push(entry.relative_path.clone());
        }
    }
    paths
}

/// Files whose sha256 differs from what their record says was linked.
fn altered(prefix: &Path, records: &[PrefixRecord]) -> BTreeMap<String, Vec<String>> {
    let checks: Vec<(String, PathBuf, String)> = records
        .iter()
        .flat_map(|record| {
            let name = record_name(record);
            record.paths_data.paths.iter().filter_map(move |entry| {
                let expected = entry.sha256_in_prefix.or(entry.sha256)?;
                (entry.path_type == PathType::HardLink).then(|| {
                    (
                        name.clone(),
                        entry.relative_path.clone(),
                        hex::encode(expected),
                    )
                })
            })
        })
        .collect();
    let altered: Vec<(String, String)> = checks
        .par_iter()
        .filter_map(|(name, path, expected)| {
            let full = prefix.join(path);
            // A missing file is reported as missing, not as altered.
            if !full.is_file() {
                return None;
            }
            let actual = rattler_digest::compute_file_digest::<rattler_digest::Sha256>(&full)
                .map(hex::encode)
                .unwrap_or_default();
            (actual != *expected).then(|| (name.clone(), path.display().to_string()))
        })
        .collect();
    let mut by_record: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, path) in altered {
        by_record.entry(name).or_default().push(path);
    }
    for paths in by_record.values_mut() {
        paths.sort();
    }
    by_record
}

/// Files and symlinks of the prefix that no record lists. `conda-meta/` is the records'
/// own, `__pycache__/` what Python writes at run time, `CACHEDIR.TAG` the backup-exclusion
/// marker rattler (and so pixi and krait) puts in every prefix, and a rollback folder belongs
/// to a transaction (finished before doctor runs).
fn unowned(prefix: &Path, owned: &HashSet<PathBuf>) -> Vec<String> {
    let mut unowned: Vec<String> = walkdir::WalkDir::new(prefix)
        .min_depth(1)
        .into_iter()
        .filter_entry(|e| {
            let name = e.file_name();
            let top_level_own = ["conda-meta", "CACHEDIR.TAG", super::transaction::KEEP_DIR];
            !(e.depth() == 1 && top_level_own.iter().any(|own| name == *own))
                && name != "__pycache__"
        })
        .filter_map(Result::ok)
        .filter(|e| !e.file_type().is_dir())
        .filter_map(|e| e.path().strip_prefix(prefix).ok().map(Path::to_path_buf))
        .filter(|rel| !owned.contains(rel))
        .map(|rel| rel.display().to_string())
        .collect();
    unowned.sort();
    unowned
}
