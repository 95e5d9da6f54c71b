//! What to install, from the command line and `--file`: MatchSpecs, spec-list files,
//! `@EXPLICIT` files (installed without solving), `environment.yml`, and conda-lock / pixi
//! lockfiles (via `rattler_lock`, installed without solving).

use crate::channel::resolve::{host_subdir, ChannelSelection};
use crate::env::prefix::EnvTarget;
use rattler_conda_types::package::{DistArchiveIdentifier, IndexJson};
use rattler_conda_types::PackageArchiveHash;
use rattler_conda_types::{
    EnvironmentYaml, ExplicitEnvironmentSpec, MatchSpec, PackageRecord, ParseStrictness,
    RepoDataRecord,
};
use std::path::{Path, PathBuf};

/// Errors in specs and spec files; each names the spec or the file and line.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum SpecFileError {
    #[error("invalid MatchSpec {spec:?}: {reason}")]
    #[diagnostic(help("examples: numpy, 'numpy>=1.26', 'python=3.11'"))]
    InvalidSpec { spec: String, reason: String },
    #[error("{path}:{line}: invalid MatchSpec {spec:?}: {reason}")]
    InvalidSpecInFile {
        path: PathBuf,
        line: usize,
        spec: String,
        reason: String,
    },
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    #[diagnostic(help("fix the file; line and column are given where known"))]
    Malformed { path: PathBuf, message: String },
    #[error("{path} has no packages for {subdir}")]
    NoPackagesForPlatform { path: PathBuf, subdir: String },
    #[error("cannot mix an @EXPLICIT file or lockfile with other specs")]
    MixedExact,
    #[error("cannot read {path}: {message}")]
    EnvironmentYaml { path: PathBuf, message: String },
    #[error("{path}: cannot download {url}: {message}")]
    #[diagnostic(help(
        "check the URL, and the token for its channel (.condarc channel_tokens or the auth store)"
    ))]
    Fetch {
        path: PathBuf,
        url: String,
        message: String,
    },
    #[error(
        "{path} locks PyPI packages, which krait does not install from a lockfile: {packages}"
    )]
    #[diagnostic(help(
        "install the conda part from a lockfile without them, then the PyPI ones with the environment's pip"
    ))]
    PypiInLockfile { path: PathBuf, packages: String },
    #[error("{0} names no environment")]
    #[diagnostic(help("add `name: NAME` to the file, or pass -n NAME or -p PATH"))]
    NoEnvironment(PathBuf),
}

/// What the user asked to install.
#[derive(Debug)]
pub enum Request {
    /// Specs to solve for.
    Specs(Vec<MatchSpec>),
    /// Records to install as they are.
    Exact(Vec<RepoDataRecord>),
}

fn parse_spec(spec: &str) -> Result<MatchSpec, String> {
    MatchSpec::from_str(spec, ParseStrictness::Lenient).map_err(|e| e.to_string())
}

fn is_lockfile(path: &Path) -> bool {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    name.ends_with(".lock") || name.ends_with("-lock.yml") || name.ends_with("-lock.yaml")
}

/// What an environment.yml asks for beyond conda packages, which `env create`/`env update`
/// apply once the packages are linked.
#[derive(Debug, Default)]
pub struct YamlExtras {
    /// `variables:`, for `conda-meta/state`.
    pub variables: Vec<(String, String)>,
    /// The `pip:` requirement lines, and the folder of the file they are relative to.
    pub pip: Vec<String>,
    pub pip_dir: PathBuf,
}

/// Combines command-line specs and `--file`s; channels named in files are added to `channels`.
/// An environment.yml's `variables:` and `pip:` are left out with a warning: `env create`
/// applies them.
pub fn gather(
    specs: &[String],
    files: &[PathBuf],
    channels: &mut ChannelSelection,
    platform: Option<&str>,
) -> Result<Request, SpecFileError> {
    let (request, extras) = gather_with_extras(specs, files, channels, platform)?;
    if !extras.pip.is_empty() || !extras.variables.is_empty() {
        tracing::warn!(
            "the `pip:` and `variables:` sections of environment.yml files are applied by \
             `krait env create -f FILE` and `krait env update -f FILE`, not by --file"
        );
    }
    Ok(request)
}

/// [`gather`], also returning the environment.yml sections other than conda packages.
pub fn gather_with_extras(
    specs: &[String],
    files: &[PathBuf],
    channels: &mut ChannelSelection,
    platform: Option<&str>,
) -> Result<(Request, YamlExtras), SpecFileError> {
    let mut extras = YamlExtras::default();
    let mut out = Vec::new();
    for spec in specs {
        out.push(
            parse_spec(spec).map_err(|reason| SpecFileError::InvalidSpec {
                spec: spec.clone(),
                reason,
            })?,
        );
    }
    let mut exact: Option<Vec<RepoDataRecord>> = None;
    for path in files {
        let text = std::fs::read_to_string(path).map_err(|source| SpecFileError::Read {
            path: path.clone(),
            source,
        })?;
        let subdir = match platform {
            Some(p) => p.to_string(),
            None => host_subdir().to_string(),
        };
        if is_lockfile(path) {
            exact = Some(lockfile_records(path, &subdir)?);
        } else if text.lines().any(|l| l.trim() == "@EXPLICIT") {
            exact = Some(explicit_records(path)?);
        } else if path.extension().is_some_and(|e| e == "yml" || e == "yaml") {
            let env =
                EnvironmentYaml::from_yaml_str(&text).map_err(|e| SpecFileError::Malformed {
                    path: path.clone(),
                    message: e.to_string(),
                })?;
            for channel in &env.channels {
                channels.channels.push(channel.to_string());
            }
            out.extend(env.match_specs().cloned());
            extras
                .variables
                .extend(env.variables.iter().map(|(k, v)| (k.clone(), v.clone())));
            if let Some(pip) = env.pip_specs() {
                let lists_pip = env.match_specs().any(|s| {
                    s.name
                        .as_exact()
                        .is_some_and(|n| n.as_normalized() == "pip")
                });
                if !lists_pip {
                    // conda's words, and its remedy.
                    tracing::warn!(
                        "you have pip-installed dependencies in your environment file, but you \
                         do not list pip itself as one of your conda dependencies. Conda may not \
                         use the correct pip to install your packages, and they may end up in \
                         the wrong place. Please add an explicit pip dependency. I'm adding one \
                         for you, but still nagging you. ({})",
                        path.display()
                    );
                    out.push(parse_spec("pip").expect("`pip` is a valid spec"));
                }
                extras.pip.extend(pip.iter().cloned());
                extras.pip_dir = path
                    .parent()
                    .filter(|p| !p.as_os_str().is_empty())
                    .unwrap_or(Path::new("."))
                    .to_path_buf();
            }
        } else {
            for (index, raw) in text.lines().enumerate() {
                let line = raw.split('#').next().unwrap_or("").trim();
                if line.is_empty() || line.starts_with('@') {
                    continue;
                }
                out.push(
                    parse_spec(line).map_err(|reason| SpecFileError::InvalidSpecInFile {
                        path: path.clone(),
                        line: index + 1,
                        spec: line.to_string(),
                        reason,
                    })?,
                );
            }
        }
    }
    let request = match exact {
        Some(_) if !out.is_empty() => return Err(SpecFileError::MixedExact),
        Some(records) => Request::Exact(records),
        None => Request::Specs(out),
    };
    Ok((request, extras))
}

/// Adds `.condarc`'s `create_default_packages` to a `create`'s specs, except those whose
/// package the specs already name, as conda does.
pub fn add_default_packages(
    specs: &mut Vec<MatchSpec>,
    defaults: &[String],
) -> Result<(), SpecFileError> {
    for text in defaults {
        let spec = parse_spec(text).map_err(|reason| SpecFileError::InvalidSpec {
            spec: format!("{text} (.condarc create_default_packages)"),
            reason,
        })?;
        let name = spec.name.as_exact();
        if !specs.iter().any(|given| given.name.as_exact() == name) {
            specs.push(spec);
        }
    }
    Ok(())
}

fn lockfile_records(path: &Path, subdir: &str) -> Result<Vec<RepoDataRecord>, SpecFileError> {
    let malformed = |message: String| SpecFileError::Malformed {
        path: path.to_path_buf(),
        message,
    };
    let lock = rattler_lock::LockFile::from_path(path).map_err(|e| malformed(e.to_string()))?;
    let env = lock
        .default_environment()
        .ok_or_else(|| malformed("the lockfile has no `default` environment".into()))?;
    let platform = lock
        .platform(subdir)
        .ok_or_else(|| SpecFileError::NoPackagesForPlatform {
            path: path.to_path_buf(),
            subdir: subdir.to_string(),
        })?;
    // krait does not resolve PyPI distributions: refuse rather than drop them silently.
    if let Some(pypi) = env.pypi_packages(platform) {
        let names: Vec<String> = pypi
            .map(|p| format!("{}=={}", p.name(), p.version_string()))
            .collect();
        if !names.is_empty() {
            return Err(SpecFileError::PypiInLockfile {
                path: path.to_path_buf(),
                packages: names.join(", "),
            });
        }
    }
    env.conda_repodata_records(platform)
        .map_err(|e| malformed(e.to_string()))?
        .ok_or_else(|| SpecFileError::NoPackagesForPlatform {
            path: path.to_path_buf(),
            subdir: subdir.to_string(),
        })
}

/// Reads an `@EXPLICIT` file. Each URL must name a local archive or one on a reachable
/// server; its `info/index.json` gives the record, its `#sha256` fragment the expected hash.
fn explicit_records(path: &Path) -> Result<Vec<RepoDataRecord>, SpecFileError> {
    let malformed = |message: String| SpecFileError::Malformed {
        path: path.to_path_buf(),
        message,
    };
    let spec = ExplicitEnvironmentSpec::from_path(path).map_err(|e| malformed(e.to_string()))?;
    let mut records = Vec::new();
    let mut fetcher: Option<Fetcher> = None;
    for entry in spec.packages {
        let mut url = crate::env::prefix::unmask_url(&entry.url);
        url.set_fragment(None);
        let file_name = url
            .path_segments()
            .and_then(|mut s| s.next_back())
            .unwrap_or_default()
            .to_string();
        let identifier = DistArchiveIdentifier::try_from_filename(&file_name)
            .ok_or_else(|| malformed(format!("{url} does not name a conda archive")))?;
        let downloaded =
            match url.scheme() {
                "http" | "https" => {
                    let fetcher = match &mut fetcher {
                        Some(fetcher) => fetcher,
                        None => fetcher.insert(Fetcher::new().map_err(&malformed)?),
                    };
                    Some(fetcher.fetch(&url, &file_name).map_err(|message| {
                        SpecFileError::Fetch {
                            path: path.to_path_buf(),
                            url: crate::config::mask_token(url.as_str(), "<TOKEN>"),
                            message,
                        }
                    })?)
                }
                _ => None,
            };
        let local = match &downloaded {
            Some(file) => file.path().to_path_buf(),
            None => url.to_file_path().map_err(|_| {
                malformed(format!(
                    "{url}: @EXPLICIT URLs must be file://, http:// or https://"
                ))
            })?,
        };
        let index = rattler_package_streaming::seek::read_package_file::<IndexJson>(&local)
            .map_err(|e| malformed(format!("{}: {e}", local.display())))?;
        let bytes = std::fs::read(&local).map_err(|source| SpecFileError::Read {
            path: local.clone(),
            source,
        })?;
        let sha256 = rattler_digest::compute_bytes_digest::<rattler_digest::Sha256>(&bytes);
        let md5 = rattler_digest::compute_bytes_digest::<rattler_digest::Md5>(&bytes);
        let mismatch = match entry.package_archive_hash().ok().flatten() {
            Some(PackageArchiveHash::Sha256(expected)) if expected != sha256 => {
                Some(("sha256", hex::encode(expected), hex::encode(sha256)))
            }
            Some(PackageArchiveHash::Md5(expected)) if expected != md5 => {
                Some(("md5", hex::encode(expected), hex::encode(md5)))
            }
            _ => None,
        };
        if let Some((kind, expected, actual)) = mismatch {
            return Err(malformed(format!(
                "{url}: the archive's {kind} is {actual} but the file says {expected}"
            )));
        }
        let package_record = PackageRecord::from_index_json(
            index,
            Some(bytes.len() as u64),
            Some(sha256),
            Some(md5),
        )
        .map_err(|e| malformed(e.to_string()))?;
        let channel_url = url.join("../..").ok().map(|u| u.to_string());
        records.push(RepoDataRecord {
            package_record,
            identifier,
            url,
            channel: channel_url,
        });
    }
    Ok(records)
}

/// The environment an environment.yml file is for: `given` (`-n`/`-p`) when set, else the
/// file's `name:` or `prefix:`, as conda decides.
pub fn file_target(file: &Path, given: &EnvTarget) -> Result<EnvTarget, SpecFileError> {
    if given.name.is_some() || given.prefix.is_some() {
        return Ok(given.clone());
    }
    let yaml = EnvironmentYaml::from_path(file).map_err(|e| SpecFileError::EnvironmentYaml {
        path: file.to_path_buf(),
        message: e.to_string(),
    })?;
    match (yaml.name, yaml.prefix) {
        (Some(name), _) => Ok(EnvTarget {
            name: Some(name),
            prefix: None,
        }),
        (None, Some(prefix)) => Ok(EnvTarget {
            name: None,
            prefix: Some(prefix),
        }),
        (None, None) => Err(SpecFileError::NoEnvironment(file.to_path_buf())),
    }
}

/// Downloads the archives an `@EXPLICIT` file names over http(s), with krait's channel client
/// (configured tokens and the auth store, retries, proxies), so that their records can be
/// read and their hashes checked before anything is linked.
struct Fetcher {
    runtime: tokio::runtime::Runtime,
    client: reqwest_middleware::ClientWithMiddleware,
}

impl Fetcher {
    fn new() -> Result<Fetcher, String> {
        let config = crate::config::Config::load().map_err(|e| e.to_string())?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Fetcher {
            runtime,
            client: crate::net::http_client(&config),
        })
    }

    /// Downloads `url` to a temporary file named like the archive (its format goes by name).
    fn fetch(&self, url: &url::Url, file_name: &str) -> Result<tempfile::NamedTempFile, String> {
        // reqwest's messages name the URL, token included.
        let chain = |e: &dyn std::error::Error| {
            crate::config::mask_token(&crate::net::error_chain(e), "<TOKEN>")
        };
        let bytes = self.runtime.block_on(async {
            let response = self
                .client
                .get(url.clone())
                .send()
                .await
                .map_err(|e| chain(&e))?;
            let response = response.error_for_status().map_err(|e| chain(&e))?;
            response.bytes().await.map_err(|e| chain(&e))
        })?;
        let mut file = tempfile::Builder::new()
            .suffix(&format!("-{file_name}"))
            .tempfile()
            .map_err(|e| e.to_string())?;
        std::io::Write::write_all(&mut file, &bytes).map_err(|e| e.to_string())?;
        Ok(file)
    }
}
