//! Labels as anaconda.org has them: `<channel>/label/<label>/` is a channel folder of its own,
//! `main` is the channel itself. Promotion (`krait copy --from-label dev --to-label main SPEC`)
//! copies the archives of one label that match a spec into another and re-indexes it.

use super::files::ChannelFiles;
use super::index::{store_and_index, subdir_names, IndexError};
use rattler_conda_types::{MatchSpec, Matches, ParseStrictness, RepoData};
use std::path::PathBuf;

/// Why a copy between labels failed.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum LabelError {
    #[error("{spec:?} is not a valid match spec: {reason}")]
    BadSpec { spec: String, reason: String },
    #[error("{0:?} is not a label name")]
    #[diagnostic(help("labels are plain names such as dev, test or main"))]
    BadLabel(String),
    #[error("no package in label {label} matches {spec}")]
    NothingMatches { label: String, spec: String },
    #[error("{0} is already in the target label with other content")]
    #[diagnostic(help("pass --force to replace it"))]
    Conflict(String),
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    #[diagnostic(transparent)]
    Index(#[from] IndexError),
}

/// A label name becomes a folder: only a plain, visible name may.
pub fn check_label(label: &str) -> Result<(), LabelError> {
    match super::request_path::ChannelPath::parse(label) {
        Ok(path) if path.segments().len() == 1 => Ok(()),
        _ => Err(LabelError::BadLabel(label.to_string())),
    }
}

/// Copies every archive of label `from` matching `spec` into label `to` of `channel`;
/// returns the `<subdir>/<file name>` copied. An archive already there with the same bytes is
/// left as is (and listed); one with other bytes is replaced only with `force`. The target is
/// indexed with sharded repodata when `shards`.
pub fn copy_between_labels(
    channel: &dyn ChannelFiles,
    from: &str,
    to: &str,
    spec: &str,
    force: bool,
    shards: bool,
) -> Result<Vec<String>, LabelError> {
    check_label(from)?;
    check_label(to)?;
    let matcher =
        MatchSpec::from_str(spec, ParseStrictness::Lenient).map_err(|e| LabelError::BadSpec {
            spec: spec.to_string(),
            reason: e.to_string(),
        })?;
    let source = channel.label(from);
    let target = channel.label(to);
    let read = |files: &dyn ChannelFiles, path: &str| {
        let failed = |source| LabelError::Read {
            path: files.location(path),
            source,
        };
        files
            .read(path)?
            .ok_or_else(|| failed(std::io::ErrorKind::NotFound.into()))
    };
    let mut matching = Vec::new();
    for subdir in subdir_names(source.as_ref())? {
        let repodata_path = format!("{subdir}/repodata.json");
        if !source.exists(&repodata_path)? {
            continue;
        }
        let bytes = read(source.as_ref(), &repodata_path)?;
        let repodata: RepoData = serde_json::from_slice(&bytes).map_err(|e| LabelError::Read {
            path: source.location(&repodata_path),
            source: std::io::Error::other(e),
        })?;
        for (id, record) in repodata.packages.iter().chain(&repodata.conda_packages) {
            if matcher.matches(record) {
                matching.push((subdir.clone(), id.to_file_name()));
            }
        }
    }
    if matching.is_empty() {
        return Err(LabelError::NothingMatches {
            label: from.to_string(),
            spec: spec.to_string(),
        });
    }
    matching.sort();
    let mut copied = Vec::new();
    for (subdir, file_name) in matching {
        let shown = format!("{subdir}/{file_name}");
        let bytes = read(source.as_ref(), &shown)?;
        match target.read(&shown)? {
            Some(existing) if existing == bytes => {}
            Some(_) if !force => return Err(LabelError::Conflict(shown)),
            _ => store_and_index(target.as_ref(), &subdir, &file_name, &bytes, shards)?,
        }
        copied.push(shown);
    }
    Ok(copied)
}
