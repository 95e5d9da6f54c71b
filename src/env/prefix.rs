//! Environment prefixes: where named environments live, the per-prefix lock, installed records.

use super::history::conda_spec_text;
use crate::config::Config;
use rattler_conda_types::{MatchSpec, ParseStrictness, PrefixRecord};
use std::path::{Path, PathBuf};

/// Errors about locating or locking an environment.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum PrefixError {
    #[error("environment {name:?} does not exist (looked in {searched})")]
    #[diagnostic(help(
        "list environments with `krait env list`, or create it with `krait create -n {name}`"
    ))]
    UnknownName { name: String, searched: String },
    #[error("{0} is not a conda environment (it has no conda-meta/ folder)")]
    #[diagnostic(help("create it with `krait create -p PATH`"))]
    NotAnEnvironment(PathBuf),
    #[error("no writable envs_dirs entry to create {0:?} in")]
    NoWritableEnvsDir(String),
    #[error("cannot read installed packages in {path}: {message}")]
    Records { path: PathBuf, message: String },
    #[error("cannot lock {path}: {source}")]
    Lock {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot remove {prefix}: {source}")]
    Remove {
        prefix: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{prefix} is no longer an environment, but deleting its files in {trash} failed: {source}"
    )]
    RemoveTrash {
        prefix: PathBuf,
        trash: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot finish the rollback of an interrupted transaction in {prefix}: {source}")]
    #[diagnostic(help(
        "the prefix may be half-changed; check it with `krait doctor -p PREFIX` and recreate it if needed"
    ))]
    Recovery {
        prefix: PathBuf,
        source: std::io::Error,
    },
}

/// The environment a command is for: a name under envs_dirs (`-n`) or a path (`-p`); neither
/// means the active one.
#[derive(Debug, Clone, Default)]
pub struct EnvTarget {
    /// Name of the environment (under the configured envs_dirs).
    pub name: Option<String>,
    /// Full path to the environment.
    pub prefix: Option<PathBuf>,
}

impl EnvTarget {
    /// A name when the text names an environment under envs_dirs, else a path (as conda
    /// decides for `activate` and `--clone`).
    pub fn from_name_or_path(env: &str) -> EnvTarget {
        let is_path = env.contains(std::path::MAIN_SEPARATOR) || env.starts_with('.');
        if is_path {
            EnvTarget {
                prefix: Some(PathBuf::from(env)),
                ..EnvTarget::default()
            }
        } else {
            EnvTarget {
                name: Some(env.to_string()),
                ..EnvTarget::default()
            }
        }
    }
}

/// Deletes a whole environment and drops it from environments.txt. The prefix is moved aside
/// in one step first, so that a failure part-way leaves no half environment.
pub fn remove(prefix: &Path) -> Result<(), PrefixError> {
    let trash = prefix.with_file_name(format!(
        ".krait-trash-{}-{}",
        prefix.file_name().unwrap_or_default().to_string_lossy(),
        std::process::id()
    ));
    std::fs::rename(prefix, &trash).map_err(|source| PrefixError::Remove {
        prefix: prefix.to_path_buf(),
        source,
    })?;
    set_registered(prefix, false);
    std::fs::remove_dir_all(&trash).map_err(|source| PrefixError::RemoveTrash {
        prefix: prefix.to_path_buf(),
        trash,
        source,
    })
}

/// Makes a path absolute without requiring it to exist.
pub fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// Finds an existing environment by name or path.
pub fn existing(config: &Config, target: &EnvTarget) -> Result<PathBuf, PrefixError> {
    let prefix = match (&target.name, &target.prefix) {
        (_, Some(path)) => absolute(path),
        (Some(name), None) => config
            .envs_dirs
            .iter()
            .map(|dir| dir.join(name))
            .find(|p| p.join("conda-meta").is_dir())
            .ok_or_else(|| PrefixError::UnknownName {
                name: name.clone(),
                searched: config
                    .envs_dirs
                    .iter()
                    .map(|d| d.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
            })?,
        (None, None) => match std::env::var_os("CONDA_PREFIX") {
            Some(active) => PathBuf::from(active),
            None => {
                return Err(PrefixError::UnknownName {
                    name: String::new(),
                    searched: "no -n/-p given and no environment is active".into(),
                })
            }
        },
    };
    if !prefix.join("conda-meta").is_dir() {
        return Err(PrefixError::NotAnEnvironment(prefix));
    }
    Ok(prefix)
}

/// Where a new environment goes: `-p` as given, `-n` in the first writable envs_dir.
pub fn for_create(config: &Config, target: &EnvTarget) -> Result<PathBuf, PrefixError> {
    if let Some(path) = &target.prefix {
        return Ok(absolute(path));
    }
    let name = target.name.clone().unwrap_or_default();
    for dir in &config.envs_dirs {
        if std::fs::create_dir_all(dir).is_ok() && is_writable(dir) {
            return Ok(absolute(&dir.join(&name)));
        }
    }
    Err(PrefixError::NoWritableEnvsDir(name))
}

fn is_writable(dir: &Path) -> bool {
    tempfile::tempfile_in(dir).is_ok()
}

/// Every environment under the configured envs_dirs, sorted.
pub fn list(config: &Config) -> Vec<PathBuf> {
    let mut envs = Vec::new();
    for dir in &config.envs_dirs {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        for entry in entries.flatten() {
            if entry.path().join("conda-meta").is_dir() {
                envs.push(entry.path());
            }
        }
    }
    envs.sort();
    envs
}

/// The packages installed in a prefix (empty for a prefix that does not exist yet).
pub fn installed(prefix: &Path) -> Result<Vec<PrefixRecord>, PrefixError> {
    let meta = prefix.join("conda-meta");
    if !meta.is_dir() {
        return Ok(Vec::new());
    }
    let mut records = Vec::new();
    let entries = std::fs::read_dir(&meta).map_err(|e| PrefixError::Records {
        path: meta.clone(),
        message: e.to_string(),
    })?;
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "json") {
            let record = PrefixRecord::from_path(&path).map_err(|e| PrefixError::Records {
                path: path.clone(),
                message: e.to_string(),
            })?;
            records.push(record);
        }
    }
    records.sort_by(|a, b| {
        a.repodata_record
            .package_record
            .name
            .cmp(&b.repodata_record.package_record.name)
    });
    Ok(records)
}

/// An exclusive lock on a prefix, held while a transaction runs; released on drop.
pub struct PrefixLock {
    _file: std::fs::File,
}

impl PrefixLock {
    /// Waits until no other krait process holds the prefix, then holds it.
    pub fn acquire(prefix: &Path, quiet: bool) -> Result<PrefixLock, PrefixError> {
        let meta = prefix.join("conda-meta");
        let path = meta.join(".krait.lock");
        let err = |source| PrefixError::Lock {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(&meta).map_err(err)?;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(err)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                if !quiet {
                    eprintln!(
                        "waiting for another krait process to finish with {}",
                        prefix.display()
                    );
                }
                file.lock().map_err(err)?;
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(err(e)),
        }
        // A transaction whose process died mid-way is finished before anything else.
        let rolled_back = super::transaction::finish_interrupted(prefix).map_err(|source| {
            PrefixError::Recovery {
                prefix: prefix.to_path_buf(),
                source,
            }
        })?;
        for pid in rolled_back {
            if !quiet {
                eprintln!(
                    "rolled back the unfinished transaction of krait process {pid} in {}",
                    prefix.display()
                );
            }
        }
        Ok(PrefixLock { _file: file })
    }
}

/// conda records the spec a package was requested with as `requested_spec` (a string); rattler
/// writes the newer `requested_specs` list. Fill in the former so conda tools read it. Channel
/// tokens in the recorded URLs are masked as `/t/<TOKEN>/`, as conda records them.
#[allow(deprecated)] // the deprecated field is the one conda reads
pub fn fill_requested_spec(prefix: &Path) -> Result<(), PrefixError> {
    let meta = prefix.join("conda-meta");
    for entry in std::fs::read_dir(&meta).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let failed = |message: String| PrefixError::Records {
            path: path.clone(),
            message,
        };
        let mut record = PrefixRecord::from_path(&path).map_err(|e| failed(e.to_string()))?;
        // In conda's spelling (`python=3.11`), as conda writes it.
        let wanted = record.requested_specs.first().map(|spec| {
            MatchSpec::from_str(spec, ParseStrictness::Lenient)
                .map_or_else(|_| spec.clone(), |spec| conda_spec_text(&spec))
        });
        let mut changed = wanted.is_some() && record.requested_spec != wanted;
        if changed {
            record.requested_spec = wanted;
        }
        changed |= mask_record_tokens(&mut record.repodata_record);
        if changed {
            record
                .write_to_path(&path, true)
                .map_err(|e| failed(e.to_string()))?;
            // The url crate percent-encodes `<TOKEN>`; conda writes it as it is.
            let text = std::fs::read_to_string(&path).map_err(|e| failed(e.to_string()))?;
            if text.contains(ENCODED_TOKEN_MASK) {
                crate::fs::write_atomic(
                    &path,
                    text.replace(ENCODED_TOKEN_MASK, TOKEN_MASK).as_bytes(),
                )
                .map_err(|e| failed(e.to_string()))?;
            }
        }
    }
    Ok(())
}

/// What stands for a channel token in recorded and printed URLs, as in conda.
pub const TOKEN_MASK: &str = "<TOKEN>";
/// [`TOKEN_MASK`] as the url crate writes it in a parsed URL.
const ENCODED_TOKEN_MASK: &str = "%3CTOKEN%3E";

/// Masks the `/t/<token>/` of a record's URL and channel; true when there was one.
fn mask_record_tokens(record: &mut rattler_conda_types::RepoDataRecord) -> bool {
    let url = record.url.as_str();
    let masked = crate::config::mask_token(url, TOKEN_MASK);
    if masked == url || url.contains(ENCODED_TOKEN_MASK) {
        return false;
    }
    let Ok(masked) = url::Url::parse(&masked) else {
        return false;
    };
    record.url = masked;
    if let Some(channel) = &record.channel {
        record.channel = Some(crate::config::mask_token(channel, TOKEN_MASK));
    }
    true
}

/// A recorded URL as conda prints it: a masked token shows as `<TOKEN>`.
pub fn display_url(url: &url::Url) -> String {
    url.as_str().replace(ENCODED_TOKEN_MASK, TOKEN_MASK)
}

/// A URL read back from a file, without its `/t/<TOKEN>/` mask: the channel client adds
/// the token configured for the host (`channel_tokens`, the auth store) instead.
pub fn unmask_url(url: &url::Url) -> url::Url {
    let text = url.as_str();
    for mask in [ENCODED_TOKEN_MASK, TOKEN_MASK] {
        if let Some(at) = text.find(&format!("/t/{mask}/")) {
            let rest = &text[at + 3 + mask.len()..];
            if let Ok(unmasked) = url::Url::parse(&format!("{}{rest}", &text[..at])) {
                return unmasked;
            }
        }
    }
    url.clone()
}

/// rattler writes `conda-meta/*.json` through 0600 temporary files; conda's records are
/// readable by everyone the umask allows (a shared environment is read by other users).
pub fn give_records_created_mode(prefix: &Path) -> Result<(), PrefixError> {
    let meta = prefix.join("conda-meta");
    let records: Vec<PathBuf> = std::fs::read_dir(&meta)
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .collect();
    crate::fs::give_created_mode(&records).map_err(|e| PrefixError::Records {
        path: meta,
        message: e.to_string(),
    })
}

/// `~/.conda/environments.txt`: the list of environments conda, mamba and krait created, so
/// that `env list` of any of them finds the ones made with `-p` anywhere.
fn environments_txt() -> PathBuf {
    dirs::home_dir()
        .unwrap_or_default()
        .join(".conda")
        .join("environments.txt")
}

fn environments_txt_lines() -> Vec<String> {
    std::fs::read_to_string(environments_txt())
        .unwrap_or_default()
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(str::to_string)
        .collect()
}

/// The environments under envs_dirs, then those conda registered elsewhere.
pub fn known(config: &Config) -> Vec<PathBuf> {
    let mut envs = list(config);
    for env in registered() {
        if !envs.contains(&env) {
            envs.push(env);
        }
    }
    envs
}

/// Environments registered in `~/.conda/environments.txt` that still exist.
pub fn registered() -> Vec<PathBuf> {
    environments_txt_lines()
        .into_iter()
        .map(PathBuf::from)
        .filter(|prefix| prefix.join("conda-meta").is_dir())
        .collect()
}

/// Adds (`present`) or drops a prefix in `~/.conda/environments.txt`, as conda does on create
/// and remove. The file is shared with conda, so a failure only warns.
pub fn set_registered(prefix: &Path, present: bool) {
    let entry = absolute(prefix).to_string_lossy().into_owned();
    let mut lines = environments_txt_lines();
    let listed = lines.contains(&entry);
    if listed == present {
        return;
    }
    if present {
        lines.push(entry);
    } else {
        lines.retain(|line| *line != entry);
    }
    let file = environments_txt();
    let mut text = lines.join("\n");
    text.push('\n');
    let written = std::fs::create_dir_all(file.parent().unwrap_or(Path::new(".")))
        .map_err(|e| e.to_string())
        .and_then(|()| crate::fs::write_atomic(&file, text.as_bytes()).map_err(|e| e.to_string()));
    if let Err(e) = written {
        tracing::warn!("could not update {}: {e}", file.display());
    }
}
