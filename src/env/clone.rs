//! `create --clone` and `rename`, as conda does them: the source's packages are linked anew
//! into the new prefix (hard links from the package cache, prefixes rewritten), its requested
//! specs carried over, and the files no package owns copied with the old prefix replaced.
//! conda, conda-env and what depends on them are not cloned, as in conda.

use super::history::History;
use super::install::requested_specs;
use super::prefix::{self, PrefixError};
use rattler_conda_types::{MatchSpec, ParseStrictness, PrefixRecord, RepoDataRecord};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Errors while copying an environment's own files.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum CloneError {
    #[error("cannot copy {from} to {to}: {source}")]
    Copy {
        from: PathBuf,
        to: PathBuf,
        source: std::io::Error,
    },
}

/// What to install into the clone.
pub struct CloneSource {
    /// The records to link, without solving.
    pub records: Vec<RepoDataRecord>,
    /// The source's requested specs, recorded as the clone's.
    pub specs: Vec<MatchSpec>,
    /// `name-version-build` of the packages left out (conda and what needs it).
    pub left_out: Vec<String>,
    /// The source's installed records (which files are the packages').
    installed: Vec<PrefixRecord>,
}

/// Reads what `source` holds, leaving out conda, conda-env and their dependents, as conda.
pub fn read_source(source: &Path) -> Result<CloneSource, super::EnvError> {
    let installed = prefix::installed(source)?;
    let history = History::read(source)?;
    let mut excluded: BTreeSet<String> = BTreeSet::new();
    loop {
        let before = excluded.len();
        for record in &installed {
            let p = &record.repodata_record.package_record;
            let name = p.name.as_normalized();
            let needs_excluded = p.depends.iter().any(|dep| {
                MatchSpec::from_str(dep, ParseStrictness::Lenient)
                    .ok()
                    .and_then(|s| s.name.as_exact().cloned())
                    .is_some_and(|n| excluded.contains(n.as_normalized()))
            });
            if name == "conda" || name == "conda-env" || needs_excluded {
                excluded.insert(name.to_string());
            }
        }
        if excluded.len() == before {
            break;
        }
    }
    let (left_out, kept): (Vec<&PrefixRecord>, Vec<&PrefixRecord>) = installed
        .iter()
        .partition(|r| excluded.contains(r.repodata_record.package_record.name.as_normalized()));
    let specs = requested_specs(&history, &installed)
        .into_iter()
        .filter(|(name, _)| !excluded.contains(name))
        .map(|(_, spec)| spec)
        .collect();
    Ok(CloneSource {
        records: kept.iter().map(|r| r.repodata_record.clone()).collect(),
        specs,
        left_out: left_out
            .iter()
            .map(|r| {
                let p = &r.repodata_record.package_record;
                format!("{}-{}-{}", p.name.as_normalized(), p.version, p.build)
            })
            .collect(),
        installed: installed.clone(),
    })
}

impl CloneSource {
    /// Copies the files of `from` that no package owns (pip installs, user files) to `to`,
    /// with `from` replaced by `to` in text files and symbolic links kept, as conda's clone
    /// does; conda-meta and `__pycache__` are the clone's own. Returns how many were copied.
    pub fn copy_untracked(&self, from: &Path, to: &Path) -> Result<usize, CloneError> {
        let (old, new) = (from.to_string_lossy(), to.to_string_lossy());
        let files = super::doctor::unowned_files(from, &self.installed);
        for rel in &files {
            tracing::debug!("copying {rel} (no package owns it)");
            let (source, target) = (from.join(rel), to.join(rel));
            let fail = |error| CloneError::Copy {
                from: source.clone(),
                to: target.clone(),
                source: error,
            };
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent).map_err(fail)?;
            }
            let metadata = std::fs::symlink_metadata(&source).map_err(fail)?;
            if metadata.is_symlink() {
                let link = std::fs::read_link(&source).map_err(fail)?;
                symlink(&link, &target).map_err(fail)?;
            } else {
                let bytes = std::fs::read(&source).map_err(fail)?;
                let bytes = match String::from_utf8(bytes) {
                    Ok(text) => text.replace(old.as_ref(), new.as_ref()).into_bytes(),
                    Err(binary) => binary.into_bytes(),
                };
                std::fs::write(&target, bytes).map_err(fail)?;
                std::fs::set_permissions(&target, metadata.permissions()).map_err(fail)?;
            }
        }
        Ok(files.len())
    }
}

#[cfg(unix)]
fn symlink(link: &Path, target: &Path) -> std::io::Result<()> {
    std::os::unix::fs::symlink(link, target)
}

#[cfg(windows)]
fn symlink(link: &Path, target: &Path) -> std::io::Result<()> {
    std::os::windows::fs::symlink_file(link, target)
}

/// Why an environment cannot be renamed.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum RenameError {
    #[error(transparent)]
    #[diagnostic(transparent)]
    Prefix(#[from] PrefixError),
    #[error("cannot rename {0}: it is the active environment")]
    #[diagnostic(help("run `krait deactivate` first"))]
    Active(PathBuf),
    #[error("cannot rename {0}: it is a base environment")]
    #[diagnostic(help("clone it instead: `krait create --clone PATH -n NEW`"))]
    Base(PathBuf),
    #[error("an environment already exists at {0}")]
    #[diagnostic(help("pass --force to replace it, or pick another name"))]
    Exists(PathBuf),
}

/// Checks that `source` may be renamed: not the active environment, not a base (conda's
/// `base`, a root named by `CONDA_ROOT`/`MAMBA_ROOT_PREFIX`, or one holding an envs_dir).
pub fn check_renamable(
    source: &Path,
    name: Option<&str>,
    envs_dirs: &[PathBuf],
) -> Result<(), RenameError> {
    let is = |var: &str| {
        std::env::var_os(var).is_some_and(|value| prefix::absolute(value.as_ref()) == source)
    };
    if is("CONDA_PREFIX") {
        return Err(RenameError::Active(source.to_path_buf()));
    }
    let holds_envs = envs_dirs.iter().any(|d| d.parent() == Some(source));
    if name == Some("base") || is("CONDA_ROOT") || is("MAMBA_ROOT_PREFIX") || holds_envs {
        return Err(RenameError::Base(source.to_path_buf()));
    }
    Ok(())
}

/// Clones `source` into the new prefix `dest` (see the module); a clone that fails part-way
/// is removed. Returns the outcome of linking, the source read, and how many of its own files
/// were copied.
pub async fn clone(
    ctx: &super::install::Context,
    source: &Path,
    dest: &Path,
    options: &super::install::RunOptions,
) -> Result<(super::install::Outcome, CloneSource, usize), super::EnvError> {
    let from = read_source(source)?;
    let operation = super::install::Operation::Clone {
        records: from.records.clone(),
        specs: from.specs.clone(),
    };
    let outcome = super::install::run(ctx, dest, operation, options).await?;
    if outcome.dry_run {
        return Ok((outcome, from, 0));
    }
    let copied = std::fs::create_dir_all(dest.join("conda-meta"))
        .map_err(|error| CloneError::Copy {
            from: source.join("conda-meta"),
            to: dest.join("conda-meta"),
            source: error,
        })
        .and_then(|()| from.copy_untracked(source, dest));
    match copied {
        Ok(copied) => {
            prefix::set_registered(dest, true);
            Ok((outcome, from, copied))
        }
        Err(e) => {
            let _ = std::fs::remove_dir_all(dest);
            prefix::set_registered(dest, false);
            Err(e.into())
        }
    }
}
